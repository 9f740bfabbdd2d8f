"""Sans-IO DICOM upper layer (PS3.8): framing, association state, DIMSE echo."""

from exposcan.dicom.association import Association
from exposcan.dicom.events import (
    Aborted,
    AcceptedContext,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    Event,
    LocalProtocolError,
    ProtocolError,
    RejectedContext,
    Released,
    ReleaseRequested,
    UnknownPduType,
)
from exposcan.dicom.pdus import ProposedContext, propose

__all__ = [
    "Aborted",
    "AcceptedContext",
    "Association",
    "AssociationAccepted",
    "AssociationRejected",
    "ConnectionClosed",
    "DimseMessage",
    "Event",
    "LocalProtocolError",
    "ProposedContext",
    "ProtocolError",
    "RejectedContext",
    "ReleaseRequested",
    "Released",
    "UnknownPduType",
    "propose",
]

"""Events the sans-IO association hands to its driver (frozen, comparable).

Modelled on h11's ``_events.py``: every event is plain data; the driver decides
what to do with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid DICOM upper-layer exchange.

    The message describes the bytes, never their content beyond a few header
    fields, so it is safe to log.
    """


class UnknownPduType(ProtocolError):
    """The first byte of a PDU is no PDU type. 0x15/0x16 are TLS alert/handshake records."""

    def __init__(self, value: int) -> None:
        super().__init__(f"unknown PDU type 0x{value:02x}")
        self.value = value


class LocalProtocolError(Exception):
    """The driver asked the association for something its state forbids."""


@dataclass(frozen=True, slots=True)
class AcceptedContext:
    context_id: int
    abstract_syntax: str
    transfer_syntax: str


@dataclass(frozen=True, slots=True)
class RejectedContext:
    context_id: int
    abstract_syntax: str
    result: int
    reason: str


@dataclass(frozen=True, slots=True)
class AssociationAccepted:
    """A-ASSOCIATE-AC (PS3.8 §9.3.3)."""

    accepted: tuple[AcceptedContext, ...]
    rejected: tuple[RejectedContext, ...]
    max_pdu_length: int
    implementation_class_uid: str | None
    implementation_version_name: str | None
    protocol_version: int


@dataclass(frozen=True, slots=True)
class AssociationRejected:
    """A-ASSOCIATE-RJ (PS3.8 §9.3.4), with its codes and their words."""

    result: int
    source: int
    reason: int
    result_text: str
    source_text: str
    reason_text: str

    @property
    def words(self) -> str:
        return f"{self.result_text}; {self.source_text}: {self.reason_text}"


@dataclass(frozen=True, slots=True)
class Aborted:
    """A-ABORT (PS3.8 §9.3.8) from the peer."""

    source: int
    reason: int
    source_text: str
    reason_text: str


@dataclass(frozen=True, slots=True)
class ReleaseRequested:
    """The peer sent A-RELEASE-RQ; the driver answers with ``release_reply()``."""


@dataclass(frozen=True, slots=True)
class Released:
    """A-RELEASE-RP: the association ended cleanly."""


@dataclass(frozen=True, slots=True)
class DimseMessage:
    """A complete DIMSE message (command set, and the size of any data set).

    Only the command set's routing fields are kept; a data set is counted (bytes, and
    top-level elements from their headers) and dropped, never decoded, so no
    identifier reaches the driver.
    """

    context_id: int
    command_field: int
    message_id_responded_to: int | None
    status: int | None
    has_data_set: bool
    data_set_length: int
    #: Top-level elements of the data set, counted from their headers (values unread);
    #: ``None`` without a data set or where its bytes did not parse as one. Left out of
    #: comparisons: two responses are the same message whatever their identifiers held.
    data_set_elements: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed the transport (EOF) in a state where that ends things."""


Event = (
    AssociationAccepted
    | AssociationRejected
    | Aborted
    | ReleaseRequested
    | Released
    | DimseMessage
    | ConnectionClosed
)

"""Sans-IO DICOM upper layer (PS3.8): framing, association state, DIMSE echo.

The names below are imported on first use (PEP 562), as :mod:`exposcan` does: the
association and DIMSE codec bring pydicom (and numpy through it), and a module that
only needs :mod:`exposcan.dicom.uids` (the options, the report) must not pay for them
at process start (``exposcan --version``, ``report``, ``diff``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives.
_PUBLIC: dict[str, str] = {
    "Association": "exposcan.dicom.association",
    "ProposedContext": "exposcan.dicom.pdus",
    "propose": "exposcan.dicom.pdus",
    **dict.fromkeys(
        (
            "Aborted",
            "AcceptedContext",
            "AssociationAccepted",
            "AssociationRejected",
            "ConnectionClosed",
            "DimseMessage",
            "Event",
            "LocalProtocolError",
            "ProtocolError",
            "RejectedContext",
            "ReleaseRequested",
            "Released",
            "UnknownPduType",
        ),
        "exposcan.dicom.events",
    ),
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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

"""Encoding and decoding of the association PDUs.

Requests are laid out by :mod:`exposcan.dicom.encoding`. An A-ASSOCIATE-AC is read
by :mod:`exposcan.dicom.ac_decoding` when it holds only what peers send (the
common items, ASCII UIDs that conform); anything else goes to pynetdicom's
decoder, imported then, so that a scan that never meets such a peer never loads
pynetdicom and pydicom. This module adds what a scanner needs on top: inputs
from a peer are checked before and after decoding, every failure becomes a
:class:`ProtocolError`, and codes become words from the standard's tables.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from exposcan.dicom import encoding, uids
from exposcan.dicom.ac_decoding import DecodedAc, decode_plain_ac
from exposcan.dicom.ac_items import checked_without_identity, printable
from exposcan.dicom.events import (
    Aborted,
    AcceptedContext,
    AssociationAccepted,
    AssociationRejected,
    ProtocolError,
    RejectedContext,
)

_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class ProposedContext:
    """One presentation context of an A-ASSOCIATE-RQ (PS3.8 §9.3.2.2)."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...] = uids.DEFAULT_TRANSFER_SYNTAXES


def propose(abstract_syntaxes: Sequence[str]) -> tuple[ProposedContext, ...]:
    """Number contexts 1, 3, 5, ... (PS3.8 §9.3.2.2: odd integers, at most 255)."""
    if len(abstract_syntaxes) > 128:
        raise ValueError("at most 128 presentation contexts fit one A-ASSOCIATE-RQ")
    return tuple(ProposedContext(2 * i + 1, uid) for i, uid in enumerate(abstract_syntaxes))


def encode_associate_rq(
    *,
    called_ae_title: str,
    calling_ae_title: str,
    contexts: Sequence[ProposedContext],
    max_pdu_length: int,
    implementation_class_uid: str = uids.IMPLEMENTATION_CLASS_UID,
    implementation_version_name: str | None = uids.IMPLEMENTATION_VERSION_NAME,
) -> bytes:
    """A-ASSOCIATE-RQ, PS3.8 §9.3.2 (Table 9-11), with the user information of
    PS3.7 Annex D.3.3 (maximum length, implementation class UID and version name).

    The request is encoded once per shape and the called AE title, bytes 11-26 of
    Table 9-11, is written into a copy for each peer: a scan sends the same request
    to every peer but for the called title.
    """
    proposal = tuple(contexts)
    shape = (
        calling_ae_title,
        max_pdu_length,
        implementation_class_uid,
        implementation_version_name,
    )
    template = _RQ_TEMPLATES.get(proposal, shape)
    if template is None:
        template = _associate_rq_template(
            calling_ae_title,
            proposal,
            max_pdu_length,
            implementation_class_uid,
            implementation_version_name,
        )
        _RQ_TEMPLATES.put(proposal, shape, template)
    return template[:10] + _called_title_field(called_ae_title) + template[26:]


class _ByProposal(Generic[_K, _V]):
    """A small cache keyed by a proposal's identity plus a hashable key.

    A scan passes the same proposal tuple object for every peer; hashing its 23
    contexts for an ``lru_cache`` key on every association cost more than the
    lookup saved. Each entry holds its proposal, so an id is never reused while
    it is a key. Cleared when full: the working set is a handful of shapes.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[tuple[int, _K], tuple[tuple[ProposedContext, ...], _V]] = {}

    def get(self, proposal: tuple[ProposedContext, ...], key: _K) -> _V | None:
        entry = self._entries.get((id(proposal), key))
        return entry[1] if entry is not None and entry[0] is proposal else None

    def put(self, proposal: tuple[ProposedContext, ...], key: _K, value: _V) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[(id(proposal), key)] = (proposal, value)


_RQ_TEMPLATES: _ByProposal[tuple[str, int, str, str | None], bytes] = _ByProposal(64)


#: The placeholder title the template is built with; always overwritten.
_TEMPLATE_CALLED = "EXPOSCAN-TPL"


# Behind the identity cache, by value: an equal proposal built afresh (a caller's own
# ``propose()``) still finds its template, at the cost of one hash of its contexts.
@functools.lru_cache(maxsize=64)
def _associate_rq_template(
    calling_ae_title: str,
    contexts: tuple[ProposedContext, ...],
    max_pdu_length: int,
    implementation_class_uid: str,
    implementation_version_name: str | None,
) -> bytes:
    return encoding.associate_rq(
        called_ae_title=_TEMPLATE_CALLED,
        calling_ae_title=calling_ae_title,
        application_context=uids.APPLICATION_CONTEXT,
        contexts=[(c.context_id, c.abstract_syntax, c.transfer_syntaxes) for c in contexts],
        max_pdu_length=max_pdu_length,
        implementation_class_uid=implementation_class_uid,
        implementation_version_name=implementation_version_name,
    )


@functools.lru_cache(maxsize=1024)
def _called_title_field(title: str) -> bytes:
    """The 16-byte Called-AE-title field: validated (PS3.5 AE: 1-16 characters, not
    all spaces, no backslash or control characters), ASCII, padded with trailing
    spaces (PS3.8 §9.3.2)."""
    encoding.check_ae_title(title, "Called AE Title")
    return encoding.ae_field(title)


def encode_release_rq() -> bytes:
    return encoding.RELEASE_RQ


def encode_release_rp() -> bytes:
    return encoding.RELEASE_RP


def encode_abort(source: int = 0, reason: int = 0) -> bytes:
    """A-ABORT, PS3.8 §9.3.8 (Table 9-26): source 0 = service-user (us)."""
    return encoding.abort(source, reason)


# PS3.8 §9.3.4, Table 9-21: the A-ASSOCIATE-RJ fields and their meanings.
REJECT_RESULTS = {1: "rejected-permanent", 2: "rejected-transient"}
REJECT_SOURCES = {
    1: "service-user",
    2: "service-provider (ACSE)",
    3: "service-provider (presentation)",
}
REJECT_REASONS = {
    1: {
        1: "no reason given",
        2: "application context name not supported",
        3: "calling AE title not recognised",
        7: "called AE title not recognised",
    },
    2: {1: "no reason given", 2: "protocol version not supported"},
    3: {1: "temporary congestion", 2: "local limit exceeded"},
}

# PS3.8 §9.3.8, Table 9-26: A-ABORT source and (for the provider) reason.
ABORT_SOURCES = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognised PDU",
    2: "unexpected PDU",
    4: "unrecognised PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}

# PS3.8 §9.3.3.2, Table 9-18: presentation context result/reason.
CONTEXT_RESULTS = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}


def decode_associate_rj(pdu: bytes) -> AssociationRejected:
    """A-ASSOCIATE-RJ, PS3.8 §9.3.4: bytes 7, 8 and 9 are result, source, reason."""
    if len(pdu) < 10:
        raise ProtocolError(f"A-ASSOCIATE-RJ of {len(pdu)} bytes is too short")
    result, source, reason = pdu[7], pdu[8], pdu[9]
    return AssociationRejected(
        result=result,
        source=source,
        reason=reason,
        result_text=REJECT_RESULTS.get(result, f"unknown result {result}"),
        source_text=REJECT_SOURCES.get(source, f"unknown source {source}"),
        reason_text=REJECT_REASONS.get(source, {}).get(reason, f"reserved reason {reason}"),
    )


def decode_abort(pdu: bytes) -> Aborted:
    """A-ABORT, PS3.8 §9.3.8: bytes 8 and 9 are source and reason."""
    if len(pdu) < 10:
        raise ProtocolError(f"A-ABORT of {len(pdu)} bytes is too short")
    source, reason = pdu[8], pdu[9]
    reason_text = ABORT_REASONS.get(reason, f"reserved reason {reason}") if source == 2 else ""
    return Aborted(
        source=source,
        reason=reason,
        source_text=ABORT_SOURCES.get(source, f"unknown source {source}"),
        reason_text=reason_text,
    )


def decode_associate_ac(pdu: bytes, proposed: Sequence[ProposedContext]) -> AssociationAccepted:
    """A-ASSOCIATE-AC, PS3.8 §9.3.3 (Table 9-17); variable items start at offset 74.

    Contexts are matched to what we proposed by id: a context id we never sent
    is a protocol error, so a peer cannot make us believe a service it invented.
    Peers of one product answer one request with the same bytes, so decoded
    answers are kept in a small cache (the result is frozen; errors are not kept).
    """
    proposal = tuple(proposed)
    accepted = _DECODED.get(proposal, pdu)
    if accepted is None:
        accepted = _decode_associate_ac(pdu, proposal)
        _DECODED.put(proposal, pdu, accepted)
    return accepted


#: At most 128 PDUs of at most 32 KiB (MAX_ASSOCIATION_PDU) are kept: 4 MiB at worst.
_DECODED: _ByProposal[bytes, AssociationAccepted] = _ByProposal(128)


def _decode_associate_ac(pdu: bytes, proposed: tuple[ProposedContext, ...]) -> AssociationAccepted:
    rebuilt, identity = checked_without_identity(pdu)
    decoded = decode_plain_ac(rebuilt)
    if decoded is None:
        decoded = _decode_with_pynetdicom(rebuilt)
    return _accepted(
        decoded,
        proposed,
        class_uid=printable(identity.get(0x52)),
        version_name=printable(identity.get(0x55)),
    )


def _decode_with_pynetdicom(rebuilt: bytes) -> DecodedAc:
    """pynetdicom's reading of an AC that is not plain (:mod:`~exposcan.dicom.ac_decoding`)."""
    from pynetdicom.pdu import A_ASSOCIATE_AC
    from pynetdicom.pdu_items import (
        MaximumLengthSubItem,
        PresentationContextItemAC,
        UserInformationItem,
    )

    decoded = A_ASSOCIATE_AC()
    try:
        # pydicom only warns about a malformed UID; the verdict must not depend
        # on the caller's warnings filter, and the warning must not reach stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoded.decode(rebuilt)
            contexts: list[tuple[int, int, str]] = []
            max_pdu_length: int | None = None
            for item in decoded.variable_items:
                if isinstance(item, PresentationContextItemAC):
                    result = item.result_reason if item.result_reason is not None else -1
                    transfer_syntax = str(item.transfer_syntax or "") if result == 0 else ""
                    context_id = cast(int, item.presentation_context_id)  # set by decode()
                    contexts.append((context_id, result, transfer_syntax))
                elif isinstance(item, UserInformationItem):
                    for sub_item in item.user_data:
                        if isinstance(sub_item, MaximumLengthSubItem):
                            max_pdu_length = sub_item.maximum_length_received
            return DecodedAc(int(decoded.protocol_version), tuple(contexts), max_pdu_length)
    except Exception as exc:  # pynetdicom raises anything from struct to KeyError
        raise ProtocolError(f"undecodable A-ASSOCIATE-AC ({type(exc).__name__})") from None


def _accepted(
    decoded: DecodedAc,
    proposed: Sequence[ProposedContext],
    *,
    class_uid: str | None,
    version_name: str | None,
) -> AssociationAccepted:
    by_id = {c.context_id: c for c in proposed}
    accepted: list[AcceptedContext] = []
    rejected: list[RejectedContext] = []
    for context_id, result, transfer_syntax in decoded.contexts:
        if context_id not in by_id:
            raise ProtocolError(f"A-ASSOCIATE-AC answers context {context_id} never proposed")
        mine = by_id[context_id]
        if result == 0:
            if transfer_syntax not in mine.transfer_syntaxes:
                raise ProtocolError(
                    f"context {context_id} accepted with a transfer syntax never proposed"
                )
            accepted.append(AcceptedContext(context_id, mine.abstract_syntax, transfer_syntax))
        else:
            reason = CONTEXT_RESULTS.get(result, f"unknown result {result}")
            rejected.append(RejectedContext(context_id, mine.abstract_syntax, result, reason))
    if decoded.max_pdu_length is None:
        # PS3.7 D.3.3.1: the maximum length sub-item is mandatory.
        raise ProtocolError("A-ASSOCIATE-AC has no maximum length sub-item")
    return AssociationAccepted(
        accepted=tuple(accepted),
        rejected=tuple(rejected),
        max_pdu_length=decoded.max_pdu_length,
        implementation_class_uid=class_uid,
        implementation_version_name=version_name,
        protocol_version=decoded.protocol_version,
    )

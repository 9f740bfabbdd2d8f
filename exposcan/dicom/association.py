"""A sans-IO DICOM association, requestor side: bytes in, events out.

No sockets, clocks or logging. The driver calls a method to get the bytes to
send (``request``, ``send_c_echo``, ``release``, ``abort``), hands received
bytes to ``receive_data`` (``b""`` for end of stream) and reads events with
``next_event`` until it returns ``None`` (more bytes needed). Any malformed or
unexpected input raises :class:`ProtocolError`, after which the association is
closed and the driver should send ``abort()`` bytes if the transport lives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from exposcan.dicom import dimse, pdus, uids
from exposcan.dicom.events import (
    AssociationAccepted,
    ConnectionClosed,
    Event,
    ProtocolError,
    Released,
    ReleaseRequested,
    UnknownPduType,
)
from exposcan.dicom.framing import PduFramer, PduType
from exposcan.dicom.pdus import ProposedContext
from exposcan.dicom.state import Input, State, UnexpectedPdu, transition

#: What we announce as our maximum PDU length (PS3.8 §D.1): also our cap on P-DATA.
DEFAULT_MAX_PDU_LENGTH = 16384
#: Association-phase PDUs are a few KiB at most; anything larger is hostile.
MAX_ASSOCIATION_PDU = 32 * 1024
#: A-RELEASE and A-ABORT carry 4 bytes; allow some slack for sloppy peers.
MAX_SMALL_PDU = 1024
#: Below this a peer's maximum PDU length cannot carry a command set sensibly.
MIN_PEER_MAX_PDU = 128

_RECV_INPUT = {
    PduType.ASSOCIATE_RQ: Input.RECV_ASSOCIATE_RQ,
    PduType.ASSOCIATE_AC: Input.RECV_ASSOCIATE_AC,
    PduType.ASSOCIATE_RJ: Input.RECV_ASSOCIATE_RJ,
    PduType.P_DATA_TF: Input.RECV_P_DATA,
    PduType.RELEASE_RQ: Input.RECV_RELEASE_RQ,
    PduType.RELEASE_RP: Input.RECV_RELEASE_RP,
    PduType.ABORT: Input.RECV_ABORT,
}


class Association:
    def __init__(self, *, max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH) -> None:
        # We never announce 0 ("no limit", PS3.8 §D.1): our limit is our buffer cap.
        if not MIN_PEER_MAX_PDU <= max_pdu_length <= 4 * 1024 * 1024:
            raise ValueError(f"max_pdu_length must be 128 B to 4 MiB, not {max_pdu_length}")
        self.max_pdu_length = max_pdu_length
        self.state = State.IDLE
        self.proposed: tuple[ProposedContext, ...] = ()
        self.accepted: AssociationAccepted | None = None
        self._framer = PduFramer(self._limit_for)
        self._assembler = dimse.MessageAssembler()
        self._events: deque[Event] = deque()
        self._eof = False
        self._message_id = 0
        self._owe_abort = False  # a protocol error closed us; the peer should hear of it
        self._abort_reason = 0

    # -- what we send -------------------------------------------------------

    def request(
        self,
        *,
        called_ae_title: str = uids.DEFAULT_CALLED_AE_TITLE,
        calling_ae_title: str = uids.CALLING_AE_TITLE,
        contexts: Sequence[ProposedContext],
    ) -> bytes:
        self._advance(Input.SEND_ASSOCIATE_RQ)
        self.proposed = tuple(contexts)
        return pdus.encode_associate_rq(
            called_ae_title=called_ae_title,
            calling_ae_title=calling_ae_title,
            contexts=self.proposed,
            max_pdu_length=self.max_pdu_length,
        )

    def send_c_echo(self, context_id: int) -> tuple[int, bytes]:
        """Return the message id and the bytes of a C-ECHO-RQ on ``context_id``."""
        self._advance(Input.SEND_P_DATA)
        self._message_id += 1
        return self._message_id, dimse.encode_c_echo_rq(
            context_id, self._message_id, self._peer_max_pdu()
        )

    def send_c_find(self, context_id: int, sop_class: str, identifier: bytes) -> tuple[int, bytes]:
        """Return the message id and the bytes of a C-FIND-RQ carrying ``identifier``."""
        self._advance(Input.SEND_P_DATA)
        self._message_id += 1
        return self._message_id, dimse.encode_c_find_rq(
            context_id, self._message_id, sop_class, identifier, self._peer_max_pdu()
        )

    def send_c_cancel(self, context_id: int, message_id: int) -> bytes:
        self._advance(Input.SEND_P_DATA)
        return dimse.encode_c_cancel_rq(context_id, message_id, self._peer_max_pdu())

    def release(self) -> bytes:
        self._advance(Input.SEND_RELEASE_RQ)
        return pdus.encode_release_rq()

    def release_reply(self) -> bytes:
        self._advance(Input.SEND_RELEASE_RP)
        return pdus.encode_release_rp()

    def abort(self) -> bytes:
        """A-ABORT bytes if the association is live, else ``b""`` (nothing to abort)."""
        if self.state is State.CLOSED:
            if not self._owe_abort:
                return b""
            self._owe_abort = False
            # AA-8: the provider aborts, with the reason the input failed for.
            return pdus.encode_abort(source=2, reason=self._abort_reason)
        self._advance(Input.SEND_ABORT)
        return pdus.encode_abort()

    # -- what we receive ----------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.state is State.CLOSED:
            return  # bytes after the end are ignored, never buffered
        if not data:
            self._eof = True
            return
        self._framer.feed(data)

    def next_event(self) -> Event | None:
        while not self._events:
            if self.state is State.CLOSED:
                return None
            try:
                pdu = self._framer.next_pdu()
            except ProtocolError as exc:
                self._fail(exc)
                raise
            if pdu is None:
                if not self._eof:
                    return None
                self._advance(Input.RECV_EOF)
                return ConnectionClosed()
            self._handle(*pdu)
        return self._events.popleft()

    # -- internals ----------------------------------------------------------

    def _handle(self, pdu_type: PduType, pdu: bytes) -> None:
        try:
            self._advance(_RECV_INPUT[pdu_type])
            if pdu_type is PduType.ASSOCIATE_AC:
                self.accepted = pdus.decode_associate_ac(pdu, self.proposed)
                self._check_peer_max_pdu(self.accepted.max_pdu_length)
                self._assembler.valid_contexts = frozenset(
                    c.context_id for c in self.accepted.accepted
                )
                self._assembler.implicit_contexts = frozenset(
                    c.context_id
                    for c in self.accepted.accepted
                    if c.transfer_syntax == uids.IMPLICIT_VR_LITTLE_ENDIAN
                )
                self._events.append(self.accepted)
            elif pdu_type is PduType.ASSOCIATE_RJ:
                self._events.append(pdus.decode_associate_rj(pdu))
            elif pdu_type is PduType.ABORT:
                self._events.append(pdus.decode_abort(pdu))
            elif pdu_type is PduType.RELEASE_RQ:
                self._events.append(ReleaseRequested())
            elif pdu_type is PduType.RELEASE_RP:
                self._events.append(Released())
            elif pdu_type is PduType.P_DATA_TF:
                self._events.extend(self._assembler.feed_p_data(pdu))
        except ProtocolError as exc:
            self._fail(exc)
            raise

    def _fail(self, error: ProtocolError) -> None:
        # AA-8: on a protocol error the requestor sends A-ABORT and closes.
        # PS3.8 Table 9-26 reasons: 1 unrecognised PDU, 2 unexpected PDU,
        # 6 invalid PDU parameter value.
        if isinstance(error, UnknownPduType):
            self._abort_reason = 1
        elif isinstance(error, UnexpectedPdu):
            self._abort_reason = 2
        else:
            self._abort_reason = 6
        self._owe_abort = True
        self.state = State.CLOSED
        self._events.clear()  # nothing from a broken stream is trusted

    def _advance(self, event: Input) -> None:
        self.state = transition(self.state, event)

    def _limit_for(self, pdu_type: PduType) -> int:
        if pdu_type is PduType.P_DATA_TF:
            return self.max_pdu_length
        if pdu_type in (PduType.RELEASE_RQ, PduType.RELEASE_RP, PduType.ABORT):
            return MAX_SMALL_PDU
        return MAX_ASSOCIATION_PDU

    @staticmethod
    def _check_peer_max_pdu(value: int) -> None:
        # PS3.8 §D.1: 0 means "no limit"; a tiny limit is a hostile or broken peer.
        if 0 < value < MIN_PEER_MAX_PDU:
            raise ProtocolError(f"peer maximum PDU length {value} is too small")

    def _peer_max_pdu(self) -> int:
        peer = self.accepted.max_pdu_length if self.accepted else 0
        # Never fragment larger than we would accept ourselves, whatever the peer allows.
        return min(peer, self.max_pdu_length) if peer else self.max_pdu_length

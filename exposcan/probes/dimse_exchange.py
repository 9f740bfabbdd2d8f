"""One association of the DICOM probe, pumped over one connection.

:mod:`exposcan.probes.dimse` opens the connection and records the attempt; this
module sends A-ASSOCIATE-RQ and, once accepted, C-ECHO, the counting C-FIND
(C-CANCEL at the cap) and A-RELEASE-RQ, collecting what the peer answered into
the attempt's facts. Nothing here decides which association comes next
(:mod:`exposcan.probes.aetitle_strategy` does).
"""

from __future__ import annotations

import asyncio

from exposcan.dicom import (
    Aborted,
    AcceptedContext,
    Association,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    Event,
    ProtocolError,
    Released,
    ReleaseRequested,
    dimse,
    services,
    uids,
)
from exposcan.dicom.elements import count_elements
from exposcan.dicom.pdus import ProposedContext
from exposcan.net import Connection, NetError
from exposcan.options import ScanOptions
from exposcan.probes.dimse_observation import FindOutcome
from exposcan.vocabulary import Status

Contexts = tuple[ProposedContext, ...]
CLOSED_BEFORE_AC = "closed before answering A-ASSOCIATE-RQ"


class Ended(Exception):
    """Internal: the exchange ended early with ``status``."""

    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Session:
    """One connection and one association, pumped together.

    Every wait for the peer has a deadline fixed when the wait starts: bytes that
    arrive do not move it, so a peer dripping a PDU one byte at a time (or streaming
    P-DATA after our A-RELEASE-RQ) cannot stretch a step past its timeout.
    """

    def __init__(self, connection: Connection, options: ScanOptions) -> None:
        self.connection = connection
        self.association = Association()
        self.timeouts = options.timeouts
        self._loop = asyncio.get_running_loop()

    def deadline(self, seconds: float) -> float:
        return self._loop.time() + seconds

    async def send(self, data: bytes, *, deadline: float | None = None) -> None:
        timeout = self.timeouts.read if deadline is None else deadline - self._loop.time()
        if timeout <= 0:
            raise NetError(Status.IO_TIMEOUT, "timed out")
        await self.connection.send(data, timeout=timeout)

    async def next_event(self, *, deadline: float | None = None) -> Event:
        """The next event, read by ``deadline`` (default: ``timeouts.read`` from now)."""
        until = self.deadline(self.timeouts.read) if deadline is None else deadline
        while True:
            event = self.association.next_event()
            if event is not None:
                return event
            left = until - self._loop.time()
            if left <= 0:
                raise NetError(Status.IO_TIMEOUT, "timed out")
            data = await self.connection.receive(timeout=left)
            self.association.receive_data(data)


#: How long to listen after a TLS handshake before speaking (see :func:`settle_tls`).
TLS_SETTLE_S = 0.3


async def settle_tls(session: Session) -> None:
    """Listen briefly after the TLS handshake, before sending anything.

    In TLS 1.3 a server that requires a client certificate rejects it only
    after the client's handshake has finished: its alert follows a moment
    later. Had we sent the A-ASSOCIATE-RQ at once, the server would answer it
    with a reset and the alert would be lost. A DICOM acceptor says nothing
    before the request, so silence here is the normal case.
    """
    try:
        data = await session.connection.receive(timeout=TLS_SETTLE_S)
    except NetError as exc:
        if exc.status is Status.IO_TIMEOUT:
            return
        raise
    session.association.receive_data(data)


async def exchange(
    session: Session,
    options: ScanOptions,
    called: str,
    full: bool,
    contexts: Contexts,
    facts: dict[str, object],
) -> None:
    await session.send(
        session.association.request(
            called_ae_title=called, calling_ae_title=options.calling_ae_title, contexts=contexts
        )
    )
    event = await session.next_event()
    if isinstance(event, AssociationRejected):
        facts["rejected"] = event
        return
    if isinstance(event, Aborted):
        facts["aborted"] = event
        return
    if isinstance(event, ConnectionClosed):
        raise Ended(Status.CONNECTION_CLOSED, CLOSED_BEFORE_AC)
    if not isinstance(event, AssociationAccepted):
        raise ProtocolError(f"unexpected {type(event).__name__} after A-ASSOCIATE-RQ")
    facts["accepted"] = event
    if full:
        by_uid = {c.abstract_syntax: c for c in event.accepted}
        verification = by_uid.get(uids.VERIFICATION)
        if verification is not None:
            message_id, data = session.association.send_c_echo(verification.context_id)
            await session.send(data)
            facts["echo_status"] = (await _response(session, message_id, facts)).status
        if options.find:
            for uid, level in (
                (services.STUDY_ROOT_FIND, "STUDY"),
                (services.PATIENT_ROOT_FIND, "PATIENT"),
            ):
                if uid in by_uid:
                    await _find(session, by_uid[uid], level, options.max_matches, facts)
                    break
            worklist = by_uid.get(services.WORKLIST_FIND)
            if worklist is not None:
                await _find(
                    session, worklist, "WORKLIST", options.max_matches, facts, key="worklist"
                )
    await _release(session, facts)


async def _response(session: Session, message_id: int, facts: dict[str, object]) -> DimseMessage:
    event = await session.next_event()
    if isinstance(event, DimseMessage) and event.message_id_responded_to == message_id:
        return event
    _end_on(event, facts)
    raise ProtocolError(f"unexpected {type(event).__name__} while awaiting a response")


def _end_on(event: Event, facts: dict[str, object]) -> None:
    """Turn the peer ending the association into :class:`Ended`."""
    if isinstance(event, Aborted):
        facts["aborted"] = event
        raise Ended(Status.SUCCESS, "peer aborted the association")
    if isinstance(event, ConnectionClosed):
        raise Ended(Status.CONNECTION_CLOSED, "closed during the exchange")


async def _find(
    session: Session,
    context: AcceptedContext,
    level: str,
    cap: int,
    facts: dict[str, object],
    *,
    key: str = "find",
) -> None:
    """C-FIND at ``level``; count pending responses up to ``cap``, then C-CANCEL.
    The outcome goes to ``facts[key]``: ``find`` (Q/R) or ``worklist`` (PS3.4 K.6).

    PS3.4 §C.4.1.3: pending responses (FF00/FF01) each carry one match; the
    final response has any other status. After C-CANCEL a peer may still send
    what was in flight (socket buffers hold thousands of small responses), so
    it gets ``timeouts.release`` to finish; one still streaming then is
    ignoring the cancel, and we stop listening (the caller aborts). The final
    response is awaited for ``timeouts.read`` from the C-CANCEL at most, however
    slowly the peer trickles what it still sends.
    """
    association = session.association
    name = services.name_of(context.abstract_syntax)
    identifier = dimse.find_identifier(level, context.transfer_syntax)
    message_id, data = association.send_c_find(
        context.context_id, context.abstract_syntax, identifier
    )
    await session.send(data)
    count = 0
    most: int | None = None
    asked = count_elements(
        identifier, implicit=context.transfer_syntax == uids.IMPLICIT_VR_LITTLE_ENDIAN
    )
    cancelled = False
    loop = asyncio.get_running_loop()
    grace_until = 0.0
    #: After C-CANCEL, the end of every wait: what the peer still sends does not move it.
    cancel_deadline: float | None = None

    def record(outcome: str, final_status: int | None = None) -> None:
        facts[key] = FindOutcome(
            service=name,
            level=level,
            count=count,
            cap=cap,
            cancelled=cancelled,
            final_status=final_status,
            outcome=outcome,
            asked_elements=asked or 0,
            most_elements=most,
        )

    try:
        while True:
            event = await session.next_event(deadline=cancel_deadline)
            if not (
                isinstance(event, DimseMessage) and event.message_id_responded_to == message_id
            ):
                _end_on(event, facts)
                raise ProtocolError(f"unexpected {type(event).__name__} during C-FIND")
            if event.status in dimse.PENDING:
                if cancelled:
                    if loop.time() > grace_until:
                        record("ignored-cancel")
                        raise Ended(Status.SUCCESS, "peer ignored C-CANCEL")
                    continue
                count += 1
                if event.data_set_elements is not None:
                    most = max(most or 0, event.data_set_elements)
                if count >= cap:
                    await session.send(association.send_c_cancel(context.context_id, message_id))
                    cancelled = True
                    grace_until = loop.time() + session.timeouts.release
                    cancel_deadline = session.deadline(session.timeouts.read)
                continue
            status = event.status
            if status in (0x0000, dimse.CANCELLED):
                record("matches" if count else "empty", status)
            else:
                record("refused", status)
            return
    except Ended as ended:
        if key not in facts:
            record("aborted" if "aborted" in facts else "closed")
        raise ended
    except NetError as exc:
        # A reset mid-stream is the peer hanging up, not a timeout.
        record("timeout" if exc.status is Status.IO_TIMEOUT else "closed")
        raise
    except (TimeoutError, asyncio.CancelledError):
        record("timeout")  # the endpoint deadline arrives as a cancellation
        raise


async def _release(session: Session, facts: dict[str, object]) -> None:
    """A-RELEASE-RQ, then up to ``timeouts.release`` for the A-RELEASE-RP.

    The window is counted from the A-RELEASE-RQ: a peer that keeps sending P-DATA
    (allowed, and ignored) does not hold the association open past it.
    """
    association = session.association
    until = session.deadline(session.timeouts.release)
    await session.send(association.release(), deadline=until)
    try:
        while True:
            event = await session.next_event(deadline=until)
            if isinstance(event, Released):
                facts["released"] = True
                return
            if isinstance(event, ReleaseRequested):  # release collision, PS3.8 §9.2.1
                await session.send(association.release_reply(), deadline=until)
            elif isinstance(event, Aborted | ConnectionClosed):
                return
            # P-DATA after our release request is allowed and ignored, until the deadline
            # (events already buffered are not waited for, so look at the clock here too).
            if session.deadline(0) >= until:
                return  # the caller aborts
    except (NetError, ProtocolError):
        return  # what we came for is known; the caller aborts and closes

"""The DICOM (DIMSE) probe: how far does an unknown peer get?

One endpoint costs a few short associations at most (``ScanOptions.ae_attempts``):

1. Called AE ``ANY-SCP``, proposing the whole service map of
   :mod:`exposcan.dicom.services` in one A-ASSOCIATE-RQ. If accepted: C-ECHO,
   then a metadata-only C-FIND that counts matches up to a cap (C-CANCEL), the
   same count of worklist items where Modality Worklist is offered, then
   release. Storage, move and get are read from the A-ASSOCIATE-AC alone.
2. If that was accepted: one association with a random 16-character called
   title tells "no AE check at all" from "ANY-SCP is a configured title".
   If it was rejected because the called title is unknown (PS3.8 reason 7):
   stock titles from vendors' documentation and samples, in order, until one
   gets in or the budget is spent. A calling-title check (reason 3) ends it:
   exposcan never pretends to be someone else.

A peer that refuses the whole map in one request with words that fit a cap on
its size ("local limit exceeded", "no reason given") is asked again with the
map in two halves: services (with C-ECHO and C-FIND), then storage.

Whatever the network does, the probe returns a :class:`DimseObservation`; it
sends nothing but A-ASSOCIATE-RQ, C-ECHO-RQ, C-FIND-RQ, C-CANCEL-RQ,
A-RELEASE-RQ/RP and A-ABORT.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

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
    UnknownPduType,
    dimse,
    propose,
    services,
    uids,
)
from exposcan.dicom.pdus import ProposedContext
from exposcan.dicom.services import Kind
from exposcan.net import Connection, NetError, open_connection
from exposcan.net.tls import CLIENT_CERTIFICATE_ALERTS, client_context
from exposcan.options import ScanOptions
from exposcan.results import TlsFacts
from exposcan.vocabulary import Protocol, Status

Permit = Callable[[], Awaitable[None]]
Contexts = tuple[ProposedContext, ...]

#: The whole service map in one request; Verification alone (to test a random
#: called title); and the map in two halves, for a peer that refuses the whole.
SERVICE_MAP: Contexts = propose([s.uid for s in services.SERVICES])
VERIFICATION_ONLY: Contexts = propose([uids.VERIFICATION])
CORE_MAP: Contexts = propose([s.uid for s in services.SERVICES if s.kind is not Kind.STORAGE])
STORAGE_MAP: Contexts = propose([s.uid for s in services.SERVICES if s.kind is Kind.STORAGE])
_CLOSED_BEFORE_AC = "closed before answering A-ASSOCIATE-RQ"

#: PS3.8 §9.3.4: source 1 (service-user), reasons 3 and 7.
REASON_CALLING_AE = 3
REASON_CALLED_AE = 7


@dataclass(frozen=True, kw_only=True, slots=True)
class FindOutcome:
    """A metadata-only C-FIND, as counts. Responses' identifiers were never decoded."""

    service: str
    level: str
    count: int
    cap: int
    cancelled: bool
    final_status: int | None
    #: matches | empty | refused | aborted | closed | timeout | ignored-cancel
    outcome: str

    @property
    def cap_hit(self) -> bool:
        return self.count >= self.cap


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    """One association attempt: what was asked and how the peer answered."""

    purpose: str  # first | random | stock | storage | whole-map | plaintext
    called_ae_title: str
    calling_ae_title: str
    status: Status
    detail: str | None = None
    accepted: AssociationAccepted | None = None
    rejected: AssociationRejected | None = None
    aborted: Aborted | None = None
    echo_status: int | None = None
    find: FindOutcome | None = None
    #: The Modality Worklist C-FIND, where the worklist model was accepted.
    worklist: FindOutcome | None = None
    released: bool = False
    duration_s: float = 0.0
    tls: TlsFacts | None = None
    #: The peer answered like a TLS server (an alert record, or a silent close).
    tls_suspected: bool = False

    @property
    def spoke_dicom(self) -> bool:
        return bool(self.accepted or self.rejected or self.aborted)

    def accepted_kinds(self) -> set[services.Kind]:
        if self.accepted is None:
            return set()
        return {
            kind
            for c in self.accepted.accepted
            if (kind := services.kind_of(c.abstract_syntax)) is not None
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DimseObservation:
    host: str
    port: int
    attempts: tuple[Attempt, ...]
    duration_s: float
    protocol: Protocol = Protocol.DIMSE

    @property
    def first(self) -> Attempt:
        """The first attempt in the protocol finally used (a plaintext try may precede it)."""
        return next(a for a in self.attempts if a.purpose == "first")

    @property
    def tls(self) -> TlsFacts | None:
        return next((a.tls for a in self.attempts if a.tls is not None), None)


class _Ended(Exception):
    """Internal: the exchange ended early with ``status``."""

    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Session:
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


async def probe_dimse(
    host: str,
    port: int,
    options: ScanOptions,
    *,
    permit: Permit | None = None,
    stock_titles: Sequence[str] = (),
) -> DimseObservation:
    """Probe one endpoint within ``options.timeouts.endpoint`` (from its first connect).

    Ports in ``options.tls_ports`` start with TLS; elsewhere a peer that answers
    the plaintext A-ASSOCIATE-RQ like a TLS server is tried again over TLS.
    """
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    if permit is not None:
        await permit()
    deadline = loop.time() + options.timeouts.endpoint
    attempts: list[Attempt] = []
    tls: ssl.SSLContext | None = client_context() if port in options.tls_ports else None

    service_map = SERVICE_MAP

    async def attempt(
        called: str, purpose: str, *, full: bool, contexts: Contexts | None = None
    ) -> Attempt | None:
        if attempts and permit is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    await permit()
            except TimeoutError:
                return None  # no time left for another association
        if contexts is None:
            contexts = service_map if full else VERIFICATION_ONLY
        result = await _attempt(host, port, options, called, purpose, full, contexts, deadline, tls)
        attempts.append(result)
        return result

    first = await attempt(options.called_ae_title, "first", full=True)
    assert first is not None
    if tls is None and first.tls_suspected:
        tls = client_context()
        plaintext = attempts.pop()
        attempts.append(_replace_purpose(plaintext, "plaintext"))
        retried = await attempt(options.called_ae_title, "first", full=True)
        if retried is None or (retried.status is Status.TLS_ERROR and retried.tls is None):
            # Not TLS after all (or no time): keep the plaintext verdict.
            if retried is not None:
                attempts.pop()
            attempts[-1] = plaintext
            tls = None
        else:
            first = retried
    budget = options.ae_attempts - 1
    if _limited(first) and budget > 0:
        # Some peers cap the presentation contexts of one request: propose
        # the map in two halves, the services first, then storage.
        attempts[-1] = _replace_purpose(first, "whole-map")
        service_map = CORE_MAP
        budget -= 1
        core = await attempt(options.called_ae_title, "first", full=True)
        if core is None:
            attempts[-1] = first  # out of time: the whole-map attempt stands
        else:
            first = core
            if first.accepted is not None and budget > 0:
                budget -= 1
                await attempt(options.called_ae_title, "storage", full=False, contexts=STORAGE_MAP)
    if first.accepted is not None and budget > 0:
        from exposcan.aetitles import random_ae_title

        await attempt(random_ae_title(), "random", full=False)
    elif _rejected_for(first, REASON_CALLED_AE) and budget > 0:
        tried = {options.called_ae_title}
        for title in (*options.ae_titles, *stock_titles):
            if budget == 0 or title in tried:
                continue
            tried.add(title)
            budget -= 1
            result = await attempt(title, "stock", full=True)
            if result is None or not _rejected_for(result, REASON_CALLED_AE):
                break  # in, out of time, or refused for another reason
    return DimseObservation(
        host=host,
        port=port,
        attempts=tuple(attempts),
        duration_s=time.monotonic() - started,
        protocol=Protocol.DIMSE_TLS if tls is not None else Protocol.DIMSE,
    )


def _replace_purpose(attempt: Attempt, purpose: str) -> Attempt:
    return replace(attempt, purpose=purpose)


def _limited(attempt: Attempt) -> bool:
    """Refused in words that fit a cap on the request's size (PS3.8 §9.3.4): "local
    limit exceeded" (source 3, reason 2) or "no reason given" (source 1, reason 1).
    An A-ABORT is not retried: a peer that aborts strangers should hear from us once."""
    rejected = attempt.rejected
    if attempt.accepted is not None or rejected is None:
        return False
    return (rejected.source, rejected.reason) in ((3, 2), (1, 1))


def _rejected_for(attempt: Attempt, reason: int) -> bool:
    rejected = attempt.rejected
    return rejected is not None and rejected.source == 1 and rejected.reason == reason


async def _attempt(
    host: str,
    port: int,
    options: ScanOptions,
    called: str,
    purpose: str,
    full: bool,
    contexts: Contexts,
    deadline: float,
    tls: ssl.SSLContext | None,
) -> Attempt:
    started = time.monotonic()
    facts: dict[str, object] = {}

    def observed(status: Status, detail: str | None = None) -> Attempt:
        return Attempt(
            purpose=purpose,
            called_ae_title=called,
            calling_ae_title=options.calling_ae_title,
            status=status,
            detail=detail,
            duration_s=time.monotonic() - started,
            **facts,  # type: ignore[arg-type]
        )

    connection: Connection | None = None
    session: _Session | None = None
    try:
        async with asyncio.timeout_at(deadline):
            try:
                connection = await open_connection(
                    host, port, timeout=options.timeouts.connect, tls=tls
                )
            except TimeoutError:
                return observed(Status.CONNECTION_TIMEOUT, "endpoint deadline reached")
            session = _Session(connection, options)
            if connection.tls is not None:
                facts["tls"] = connection.tls
                await _settle(session)
            await _exchange(session, options, called, full, contexts, facts)
        return observed(Status.SUCCESS)
    except TimeoutError:
        return observed(Status.IO_TIMEOUT, "endpoint deadline reached")
    except NetError as exc:
        if exc.status is Status.TLS_ERROR and exc.detail in CLIENT_CERTIFICATE_ALERTS:
            # The server wants a certificate we do not have: that is protection.
            base = connection.tls if connection is not None else None
            facts["tls"] = replace(base or TlsFacts(), client_certificate_required=True)
        elif exc.status is Status.CONNECTION_CLOSED and connection is not None and not facts:
            # Hung up on our A-ASSOCIATE-RQ: a TLS server reading it as a bad record does that.
            facts["tls_suspected"] = True
        return observed(exc.status, exc.detail)
    except UnknownPduType as exc:
        facts["tls_suspected"] = exc.value in (0x15, 0x16)
        return observed(Status.PROTOCOL_ERROR, str(exc))
    except ProtocolError as exc:
        return observed(Status.PROTOCOL_ERROR, str(exc))
    except _Ended as exc:
        if exc.detail == _CLOSED_BEFORE_AC:
            facts["tls_suspected"] = True
        return observed(exc.status, exc.detail)
    finally:
        if connection is not None:
            if session is not None:
                # A-ABORT only when something went wrong mid-association.
                connection.send_nowait(session.association.abort())
            # The polite close waits for the peer's FIN, but never past the deadline.
            left = deadline - asyncio.get_running_loop().time()
            await connection.close(timeout=max(0.0, min(options.timeouts.release, left)))


#: How long to listen after a TLS handshake before speaking (see :func:`_settle`).
TLS_SETTLE_S = 0.3


async def _settle(session: _Session) -> None:
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


async def _exchange(
    session: _Session,
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
        raise _Ended(Status.CONNECTION_CLOSED, _CLOSED_BEFORE_AC)
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


async def _response(session: _Session, message_id: int, facts: dict[str, object]) -> DimseMessage:
    event = await session.next_event()
    if isinstance(event, DimseMessage) and event.message_id_responded_to == message_id:
        return event
    _end_on(event, facts)
    raise ProtocolError(f"unexpected {type(event).__name__} while awaiting a response")


def _end_on(event: Event, facts: dict[str, object]) -> None:
    """Turn the peer ending the association into :class:`_Ended`."""
    if isinstance(event, Aborted):
        facts["aborted"] = event
        raise _Ended(Status.SUCCESS, "peer aborted the association")
    if isinstance(event, ConnectionClosed):
        raise _Ended(Status.CONNECTION_CLOSED, "closed during the exchange")


async def _find(
    session: _Session,
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
                        raise _Ended(Status.SUCCESS, "peer ignored C-CANCEL")
                    continue
                count += 1
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
    except _Ended as ended:
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


async def _release(session: _Session, facts: dict[str, object]) -> None:
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

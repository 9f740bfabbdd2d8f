"""The DICOM (DIMSE) probe: associate, C-ECHO, release.

The probe drives the sans-IO :class:`~exposcan.dicom.Association` over a
:class:`~exposcan.net.Connection`. Whatever happens on the network, it returns
an :class:`EchoObservation`; :mod:`exposcan.classify` turns that into an
exposure. It sends nothing but A-ASSOCIATE-RQ, C-ECHO-RQ, A-RELEASE-RQ/RP and
A-ABORT.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from exposcan.dicom import (
    Aborted,
    Association,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    Event,
    ProtocolError,
    Released,
    ReleaseRequested,
    propose,
    uids,
)
from exposcan.net import Connection, NetError, open_connection
from exposcan.options import ScanOptions
from exposcan.vocabulary import Status


@dataclass(frozen=True, kw_only=True, slots=True)
class EchoObservation:
    """What one association attempt showed. No peer-supplied content beyond
    identity strings (implementation UID and version name) is kept."""

    status: Status
    detail: str | None = None
    called_ae_title: str
    calling_ae_title: str
    accepted: AssociationAccepted | None = None
    rejected: AssociationRejected | None = None
    aborted: Aborted | None = None
    echo_status: int | None = None
    released: bool = False
    duration_s: float = 0.0

    @property
    def spoke_dicom(self) -> bool:
        """The peer sent at least one well-formed DICOM upper-layer answer."""
        return bool(self.accepted or self.rejected or self.aborted)


Permit = Callable[[], Awaitable[None]]


class _Unfinished(Exception):
    """Internal: the exchange ended early with ``status``."""

    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Session:
    """One connection and one association, pumped together."""

    def __init__(self, connection: Connection, options: ScanOptions) -> None:
        self.connection = connection
        self.association = Association()
        self.timeouts = options.timeouts

    async def send(self, data: bytes) -> None:
        await self.connection.send(data, timeout=self.timeouts.read)

    async def next_event(self, *, timeout: float | None = None) -> Event:
        while True:
            event = self.association.next_event()
            if event is not None:
                return event
            data = await self.connection.receive(timeout=timeout or self.timeouts.read)
            self.association.receive_data(data)


async def probe_echo(
    host: str,
    port: int,
    options: ScanOptions,
    *,
    permit: Permit | None = None,
    called_ae_title: str | None = None,
) -> EchoObservation:
    """Associate with the Verification SOP class, C-ECHO, release. Never raises
    for a network condition; the endpoint deadline bounds the whole exchange."""
    called = called_ae_title or options.called_ae_title
    calling = options.calling_ae_title
    started = time.monotonic()
    facts: dict[str, object] = {}

    def observed(status: Status, detail: str | None = None) -> EchoObservation:
        return EchoObservation(
            status=status,
            detail=detail,
            called_ae_title=called,
            calling_ae_title=calling,
            duration_s=time.monotonic() - started,
            **facts,  # type: ignore[arg-type]
        )

    if permit is not None:
        await permit()
    connection: Connection | None = None
    session: _Session | None = None
    connecting = True
    try:
        async with asyncio.timeout(options.timeouts.endpoint):
            connection = await open_connection(host, port, timeout=options.timeouts.connect)
            connecting = False
            session = _Session(connection, options)
            await _exchange(session, called, calling, facts)
        return observed(Status.SUCCESS)
    except TimeoutError:
        # Only the endpoint deadline lands here; per-step timeouts are NetErrors.
        status = Status.CONNECTION_TIMEOUT if connecting else Status.IO_TIMEOUT
        return observed(status, "endpoint deadline reached")
    except NetError as exc:
        return observed(exc.status, exc.detail)
    except ProtocolError as exc:
        return observed(Status.PROTOCOL_ERROR, str(exc))
    except _Unfinished as exc:
        return observed(exc.status, exc.detail)
    finally:
        if connection is not None:
            if session is not None:
                # A-ABORT only when something went wrong mid-association.
                connection.send_nowait(session.association.abort())
            await connection.close(timeout=options.timeouts.release)


async def _exchange(session: _Session, called: str, calling: str, facts: dict[str, object]) -> None:
    contexts = propose([uids.VERIFICATION])
    await session.send(
        session.association.request(
            called_ae_title=called, calling_ae_title=calling, contexts=contexts
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
        raise _Unfinished(Status.CONNECTION_CLOSED, "closed before answering A-ASSOCIATE-RQ")
    if not isinstance(event, AssociationAccepted):
        raise ProtocolError(f"unexpected {type(event).__name__} after A-ASSOCIATE-RQ")
    facts["accepted"] = event

    verification = next((c for c in event.accepted if c.abstract_syntax == uids.VERIFICATION), None)
    if verification is not None:
        message_id, data = session.association.send_c_echo(verification.context_id)
        await session.send(data)
        response = await _await_response(session, message_id, facts)
        facts["echo_status"] = response.status
    await _release(session, facts)


async def _await_response(
    session: _Session, message_id: int, facts: dict[str, object]
) -> DimseMessage:
    event = await session.next_event()
    if isinstance(event, DimseMessage) and event.message_id_responded_to == message_id:
        return event
    if isinstance(event, Aborted):
        facts["aborted"] = event
        raise _Unfinished(Status.SUCCESS, "peer aborted the association")
    if isinstance(event, ConnectionClosed):
        raise _Unfinished(Status.CONNECTION_CLOSED, "closed during the exchange")
    raise ProtocolError(f"unexpected {type(event).__name__} while awaiting a response")


async def _release(session: _Session, facts: dict[str, object]) -> None:
    """A-RELEASE-RQ, then up to ``timeouts.release`` for the A-RELEASE-RP."""
    association = session.association
    await session.send(association.release())
    try:
        while True:
            event = await session.next_event(timeout=session.timeouts.release)
            if isinstance(event, Released):
                facts["released"] = True
                return
            if isinstance(event, ReleaseRequested):  # release collision, PS3.8 §9.2.1
                await session.send(association.release_reply())
            elif isinstance(event, Aborted | ConnectionClosed):
                return
            # P-DATA after our release request is allowed and ignored.
    except (NetError, ProtocolError):
        return  # the exposure is proven already; the finally-block aborts

"""The DICOM (DIMSE) probe: how far does an unknown peer get?

One endpoint costs a few short associations at most (``ScanOptions.ae_attempts``):

1. A random 16-character called title (or the user's ``--called-ae``), proposing
   the whole service map of :mod:`exposcan.dicom.services` in one A-ASSOCIATE-RQ,
   and one abstract syntax that cannot exist (a real SCP refuses it; a honeypot
   that accepts everything shows itself: :mod:`exposcan.decoys`). If accepted:
   C-ECHO, then a metadata-only C-FIND that counts matches up to a cap (C-CANCEL),
   the same count of worklist items where Modality Worklist is offered, then
   release. Storage, move and get are read from the A-ASSOCIATE-AC alone. A
   random title accepted is itself the proof that any title gets in: an open
   peer costs this one association.
2. If it was rejected because the called title is unknown (PS3.8 reason 7): the
   user's ``--ae-titles``, then ``ANY-SCP`` and the stock titles from vendors'
   documentation and samples, in the order :mod:`exposcan.probes.aetitle_order`
   gives for this port and scan (ANY-SCP heads it unless a title found on
   another host of the scan, or the port's product, comes first), until
   one gets in or the budget (what fits the endpoint deadline under the per-host
   rate, at most ``ae_attempts``) is spent. A calling-title check (reason 3) ends
   it: exposcan never pretends to be someone else. After an accepted
   ``--called-ae``, one association with a random title (Verification alone) tells
   "no AE check at all" from "the title is configured".

An association that an exchange step ended (A-ABORT, or the peer closing) before the
FIND models it accepted were asked is followed, within the budget, by a fresh
association under the title that got in, proposing only the models still unasked and
no Verification: the Q/R and worklist models behind an ended C-ECHO (Orthanc with
``DicomAlwaysAllowEcho`` false aborts a stranger's C-ECHO and answers its C-FIND), the
worklist model behind an ended C-ECHO or Q/R C-FIND (Orthanc's worklist plugin may
answer a stranger whose query Orthanc itself aborts). Their counts are read as the
first association's (:func:`exposcan.classify.classify_dimse`).

A peer that refuses the whole map in one request with words that fit a cap on
its size ("local limit exceeded", "no reason given") is asked again with the
map in two halves: services (with C-ECHO and C-FIND), then storage.

Whatever the network does, the probe returns a :class:`DimseObservation`; it
sends nothing but A-ASSOCIATE-RQ, C-ECHO-RQ, C-FIND-RQ, C-CANCEL-RQ,
A-RELEASE-RQ/RP and A-ABORT.

Which association comes next is decided by the pure strategy in
:mod:`exposcan.probes.aetitle_strategy`; this module runs one association at a
time as it answers (the exchange itself is :mod:`exposcan.probes.dimse_exchange`,
the records :mod:`exposcan.probes.dimse_observation`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from exposcan.dicom import ProtocolError, UnknownPduType, propose, services, uids
from exposcan.dicom.services import ServiceKind
from exposcan.net import Connection, NetError, open_connection
from exposcan.net.tls import CLIENT_CERTIFICATE_ALERTS, client_context
from exposcan.options import ScanOptions
from exposcan.probes.aetitle_order import associations_that_fit, order_titles
from exposcan.probes.aetitle_strategy import (
    REASON_CALLED_AE,
    REASON_CALLING_AE,
    NextAttempt,
    Plan,
    ServiceMap,
    Stop,
    StopReason,
    next_attempt,
    settle,
)
from exposcan.probes.dimse_alike import AlikeAccepts
from exposcan.probes.dimse_exchange import (
    CLOSED_BEFORE_AC,
    TLS_SETTLE_S,
    Contexts,
    Ended,
    Session,
    exchange,
    settle_tls,
)
from exposcan.probes.dimse_observation import (
    DEADLINE_ENDED,
    Attempt,
    DimseObservation,
    FindOutcome,
)
from exposcan.results import TlsFacts
from exposcan.vocabulary import AttemptPurpose, Protocol, Status

if TYPE_CHECKING:
    from exposcan.aetitles import StockTitle
    from exposcan.probe import Endpoint, HostEvidence, Permit
    from exposcan.results import Verdict

DECOY = uids.NONEXISTENT_ABSTRACT_SYNTAX
_DEADLINE_REACHED = "endpoint deadline reached"

__all__ = [
    "CORE_MAP",
    "DEADLINE_ENDED",
    "DECOY",
    "PROBE",
    "QUERY_ONLY",
    "REASON_CALLED_AE",
    "REASON_CALLING_AE",
    "SERVICE_MAP",
    "STORAGE_MAP",
    "TLS_SETTLE_S",
    "VERIFICATION_ONLY",
    "WORKLIST_ONLY",
    "Attempt",
    "AttemptPurpose",
    "DimseObservation",
    "DimseProbe",
    "FindOutcome",
    "probe_dimse",
]

#: The whole service map in one request; Verification alone (to test a random
#: called title); and the map in two halves, for a peer that refuses the whole.
#: The maps that carry the exchange end with one abstract syntax that cannot exist
#: (:data:`~exposcan.dicom.uids.NONEXISTENT_ABSTRACT_SYNTAX`): a real SCP refuses it,
#: a peer that accepts everything shows it (:mod:`exposcan.decoys`).
SERVICE_MAP: Contexts = propose([*(s.uid for s in services.SERVICES), DECOY])
VERIFICATION_ONLY: Contexts = propose([uids.VERIFICATION])
CORE_MAP: Contexts = propose(
    [*(s.uid for s in services.SERVICES if s.kind is not ServiceKind.STORAGE), DECOY]
)
STORAGE_MAP: Contexts = propose([s.uid for s in services.SERVICES if s.kind is ServiceKind.STORAGE])
#: The fresh associations behind an exchange step that ended the first: no Verification,
#: so that the C-ECHO that ended it is not sent again (the exchange echoes only where
#: Verification was accepted).
WORKLIST_ONLY: Contexts = propose([services.WORKLIST_FIND])
QUERY_ONLY: Contexts = propose(
    [services.STUDY_ROOT_FIND, services.PATIENT_ROOT_FIND, services.WORKLIST_FIND]
)
_CONTEXTS: dict[ServiceMap, Contexts] = {
    ServiceMap.WHOLE: SERVICE_MAP,
    ServiceMap.CORE: CORE_MAP,
    ServiceMap.STORAGE: STORAGE_MAP,
    ServiceMap.VERIFICATION: VERIFICATION_ONLY,
    ServiceMap.WORKLIST: WORKLIST_ONLY,
    ServiceMap.QUERY: QUERY_ONLY,
}


async def probe_dimse(
    host: str,
    port: int,
    options: ScanOptions,
    *,
    permit: Permit | None = None,
    stock_titles: Sequence[str] = (),
    random_title: str | None = None,
) -> DimseObservation:
    """Probe one endpoint within ``options.timeouts.endpoint`` (from its first connect).

    Ports in ``options.tls_ports`` start with TLS; elsewhere a peer that answers
    the plaintext A-ASSOCIATE-RQ like a TLS server is tried again over TLS.
    ``random_title``: the random called title (one is drawn if not given; a scan draws
    one for all its endpoints).
    """
    from exposcan.aetitles import random_ae_title

    loop = asyncio.get_running_loop()
    started = time.monotonic()
    if permit is not None:
        await permit()
    deadline = Deadline(loop.time() + options.timeouts.endpoint)
    # Under the engine's per-host rate only so many associations start before the
    # deadline: the budget is what fits, so that the deadline, not a cut, ends the search.
    fits = (
        associations_that_fit(options.timeouts.endpoint, options.limits.per_host_rate)
        if permit is not None
        else options.ae_attempts
    )
    title = random_title or random_ae_title()
    plan = Plan.of(options, port, stock_titles, title, budget=fits)
    made: list[Attempt] = []
    tls: ssl.SSLContext | None = None
    search_end: str | None = None
    while not isinstance(step := next_attempt(plan, made), Stop):
        if made and permit is not None:
            try:
                async with asyncio.timeout_at(deadline.at):
                    await permit()
            except TimeoutError:
                search_end = DEADLINE_ENDED  # no time left for another association
                break
        if step.tls and tls is None:
            tls = client_context()
        made.append(await _attempt(host, port, options, step, deadline, tls if step.tls else None))
    settled = settle(plan, made)
    if made and made[-1].detail == _DEADLINE_REACHED:
        search_end = DEADLINE_ENDED  # the last association ran out of time
    elif isinstance(step, Stop):
        search_end = step.reason.value
        if step.reason is StopReason.BUDGET_SPENT and plan.ae_attempts < options.ae_attempts:
            search_end = DEADLINE_ENDED  # the deadline under the rate cut the budget
    tried = {a.called_ae_title for a in made}
    return DimseObservation(
        host=host,
        port=port,
        attempts=settled.attempts,
        duration_s=time.monotonic() - started,
        protocol=Protocol.DIMSE_TLS if settled.tls else Protocol.DIMSE,
        search_end=search_end,
        titles_untried=len({plan.called_ae_title, *plan.titles} - tried),
    )


@dataclass(slots=True)
class Deadline:
    """When the endpoint's time is up (event-loop clock).

    Time an open connection spent waiting for the scan's own budget (an answered first
    contact queued for a load slot, :mod:`exposcan.pacing`) was never the peer's: the
    deadline stands still meanwhile and moves on by it, or a busy scan would write a live
    host off as "endpoint deadline reached" before its first byte."""

    at: float


async def _attempt(
    host: str,
    port: int,
    options: ScanOptions,
    step: NextAttempt,
    deadline: Deadline,
    tls: ssl.SSLContext | None,
) -> Attempt:
    started = time.monotonic()
    facts: dict[str, object] = {}

    def observed(status: Status, detail: str | None = None) -> Attempt:
        return Attempt(
            purpose=step.purpose,
            called_ae_title=step.called_ae_title,
            calling_ae_title=options.calling_ae_title,
            status=status,
            detail=detail,
            duration_s=time.monotonic() - started,
            **facts,  # type: ignore[arg-type]
        )

    connection: Connection | None = None
    session: Session | None = None
    try:
        async with asyncio.timeout_at(deadline.at) as limit:
            try:
                connection = await open_connection(
                    host, port, timeout=options.timeouts.connect, tls=tls, paused=limit
                )
            except TimeoutError:
                return observed(Status.CONNECTION_TIMEOUT, _DEADLINE_REACHED)
            deadline.at = limit.when() or deadline.at  # moved on by a queued wait
            session = Session(connection, options)
            if connection.tls is not None:
                facts["tls"] = connection.tls
                await settle_tls(session)
            contexts = _CONTEXTS[step.service_map]
            await exchange(
                session, options, step.called_ae_title, step.service_map.exchange, contexts, facts
            )
        return observed(Status.SUCCESS)
    except TimeoutError:
        return observed(Status.IO_TIMEOUT, _DEADLINE_REACHED)
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
    except Ended as exc:
        if exc.detail == CLOSED_BEFORE_AC:
            facts["tls_suspected"] = True
        return observed(exc.status, exc.detail)
    finally:
        if connection is not None:
            if session is not None:
                # A-ABORT only when something went wrong mid-association.
                connection.send_nowait(session.association.abort())
            # The polite close waits for the peer's FIN, but never past the deadline.
            left = deadline.at - asyncio.get_running_loop().time()
            await connection.close(timeout=max(0.0, min(options.timeouts.release, left)))


def _draw_title() -> str:
    from exposcan.aetitles import random_ae_title

    return random_ae_title()


#: The "titles that worked" a DICOM run starts from and counts in, when something else
#: keeps them: a distributed scan's shard sets one shared with the scan's other shards
#: (exposcan.managed.titles). None: the run's own.
SHARED_WORKED: ContextVar[dict[str, int] | None] = ContextVar("exposcan_worked", default=None)


def _worked() -> dict[str, int]:
    shared = SHARED_WORKED.get()
    return {} if shared is None else shared


#: port, products the host claimed for it, stock titles that worked (and on how many hosts)
_OrderKey = tuple[int, tuple[str, ...], frozenset[tuple[str, int]]]


@dataclass(frozen=True, slots=True)
class _DimseRun:
    options: ScanOptions
    stock_titles: tuple[StockTitle, ...]
    port_products: Mapping[int, tuple[str, ...]]
    #: One random called title for the whole scan: unguessable all the same, and a
    #: product's A-ASSOCIATE-AC, which echoes the called title (PS3.8 Table 9-17), stays
    #: the same bytes from host to host, so its decoding is cached (issue 13, item 6).
    random_title: str = field(default_factory=_draw_title)
    #: Stock titles that got in on a host of this scan, and on how many.
    worked: dict[str, int] = field(default_factory=_worked)
    #: Which hosts answered with which A-ASSOCIATE-AC (the cross-endpoint decoy sign).
    alike: AlikeAccepts = field(default_factory=AlikeAccepts)
    #: The order for each port, claimed products and state of ``worked`` (it changes
    #: seldom; ordering the list for every endpoint was a measurable share of a large
    #: scan's CPU).
    orders: dict[_OrderKey, tuple[str, ...]] = field(default_factory=dict)

    async def observe(
        self, endpoint: Endpoint, permit: Permit, evidence: Sequence[HostEvidence] = ()
    ) -> DimseObservation:
        # What the host's web side said of this port (Orthanc's /system names its
        # DicomPort): that product's stock titles come before the port's.
        claimed = tuple(dict.fromkeys(record.product for record in evidence))
        key = (endpoint.port, claimed, frozenset(self.worked.items()))
        titles = self.orders.get(key)
        if titles is None:
            titles = self.orders[key] = order_titles(
                self.stock_titles,
                port=endpoint.port,
                port_products=self.port_products,
                claimed=claimed,
                worked=self.worked,
            )
        observation = await probe_dimse(
            endpoint.host,
            endpoint.port,
            self.options,
            permit=permit,
            stock_titles=titles,
            random_title=self.random_title,
        )
        for attempt in observation.attempts:
            # a title that got in here goes first on the scan's other hosts (the
            # user's too: a site tends to use one title)
            worked = attempt.purpose in (AttemptPurpose.STOCK, AttemptPurpose.USER)
            if worked and attempt.accepted is not None:
                self.worked[attempt.called_ae_title] = (
                    self.worked.get(attempt.called_ae_title, 0) + 1
                )
        alike = self.alike.note(endpoint.host, observation.attempts)
        return replace(observation, alike_hosts=alike) if alike else observation


class DimseProbe:
    """This probe as the engine sees it (:class:`exposcan.probe.EndpointProbe`)."""

    @asynccontextmanager
    async def start(self, options: ScanOptions) -> AsyncIterator[_DimseRun]:
        from exposcan.aetitles import stock_ports, stock_titles

        yield _DimseRun(options, stock_titles(), stock_ports())

    def verdict(self, observation: DimseObservation, evidence: Sequence[HostEvidence]) -> Verdict:
        from exposcan.classify import classify_dimse

        # What the latest endpoint to speak of this one said (the web probe's).
        return classify_dimse(observation, hints=evidence[-1].hints() if evidence else None)

    def attempts(self, observation: DimseObservation) -> int:
        return len(observation.attempts)

    def learn(self, observation: DimseObservation) -> Iterable[HostEvidence]:
        return ()


#: Registered in :mod:`exposcan.probes.registry`.
PROBE = DimseProbe()

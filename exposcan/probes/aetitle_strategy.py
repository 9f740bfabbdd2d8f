"""Which association the DICOM probe opens next: the AE-title strategy, pure.

Given a :class:`Plan` (the options, the stock titles, the port's protocol) and the
attempts made so far with their outcomes, :func:`next_attempt` answers the next
attempt or a :class:`Stop` with its reason, and :func:`settle` answers which
attempts the observation keeps, under which purposes, and whether TLS was used in
the end. No I/O, no clock, no randomness (the random title comes in the plan):
the driver in :mod:`exposcan.probes.dimse` opens one association per answer, and
stops early only when the endpoint's deadline leaves no time for the next one.

The order, and what each step tells:

1. The opening association carries the whole probe (the whole service map, over
   TLS on a TLS port). Its called title is a random 16-character one (purpose
   ``random``) unless the user named one with ``--called-ae`` (purpose ``first``):
   a peer that accepts a title nobody configured accepts any, so the one
   association that counts its queries also proves "no called-AE check at all"
   (issue 13: an open peer costs one association, not two).
2. A plaintext attempt answered like a TLS server (an alert, a silent close) is
   asked again over TLS, outside the budget. If that fails as TLS too, the
   plaintext verdict stands and the TLS attempt is forgotten.
3. A whole map refused in words that fit a cap on its size is proposed again in
   two halves: the core services (C-ECHO, C-FIND), then, if those were
   accepted, storage. The refused attempt is kept as ``whole-map``.
4. Accepted under the random title: done. Accepted under the user's title: one
   random title (Verification alone) tells "no AE check at all" from "the title is
   configured". Rejected because the called title is unknown (PS3.8 §9.3.4,
   source 1 reason 7): the user's titles, then the stock titles (after a random
   opening the default called title ``ANY-SCP`` among them, where their order puts
   it, with purpose ``first``), in order and without repeats, until one is answered
   otherwise or the budget (``ScanOptions.ae_attempts``, the opening included) is spent.
5. A calling-title check (reason 3) ends it: exposcan never pretends to be someone
   else. An A-ABORT is not retried: a peer that aborts strangers hears from us once.
6. An accepted association that an exchange step ended (A-ABORT, or the peer closing)
   before the FIND models it accepted were asked: a fresh association under the title
   that got in, proposing only the models still unasked and no Verification, within
   the budget. The C-ECHO ended it with a Q/R model accepted: the Q/R FIND models and
   the worklist's (purpose ``query``; Orthanc with ``DicomAlwaysAllowEcho`` false
   aborts a stranger's C-ECHO and answers its C-FIND). The C-ECHO or the Q/R C-FIND
   kept the worklist from us: the worklist model alone (purpose ``worklist``;
   Orthanc refuses a stranger's query yet its worklist plugin may answer one). Each
   fresh association asks one step fewer, so there are two at most (issue 14).

The service maps, stop reasons and the record protocol are
:mod:`exposcan.probes.aetitle_records` (re-exported here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from exposcan.dicom.uids import DEFAULT_CALLED_AE_TITLE
from exposcan.options import ScanOptions
from exposcan.probes.aetitle_records import AttemptRecord, Rejection, ServiceMap, StopReason
from exposcan.vocabulary import AttemptPurpose, Status

__all__ = [
    "REASON_CALLED_AE",
    "REASON_CALLING_AE",
    "AttemptPurpose",
    "AttemptRecord",
    "NextAttempt",
    "Plan",
    "Rejection",
    "ServiceMap",
    "Settled",
    "Stop",
    "StopReason",
    "next_attempt",
    "settle",
]

#: PS3.8 §9.3.4: source 1 (service-user), reasons 3 and 7.
REASON_CALLING_AE = 3
REASON_CALLED_AE = 7
#: PS3.8 §9.3.4 (source, reason) that fit a cap on a request's size: "local limit
#: exceeded" (source 3, reason 2) and "no reason given" (source 1, reason 1).
_LIMIT_REASONS = ((3, 2), (1, 1))


A = TypeVar("A", bound=AttemptRecord)


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """Everything the strategy decides from besides the attempts."""

    called_ae_title: str
    #: The user's titles, then the stock titles, in the order they are tried.
    titles: tuple[str, ...]
    #: Associations at most, the first included (the TLS retry aside).
    ae_attempts: int
    #: The port is one of ``ScanOptions.tls_ports``.
    starts_tls: bool
    #: Drawn by the caller (:func:`exposcan.aetitles.random_ae_title`).
    random_title: str
    #: The opening association uses the random title (the user named no called title);
    #: ``called_ae_title`` follows it only after a called-AE rejection.
    random_first: bool = True
    #: How many of ``titles`` are the user's (``--ae-titles``): after a random opening
    #: they are asked before ANY-SCP, the default title being only a guess.
    user_titles: int = 0
    #: C-FINDs are sent (``ScanOptions.find``): without, nothing is left unasked.
    find: bool = True

    @classmethod
    def of(
        cls,
        options: ScanOptions,
        port: int,
        stock_titles: Sequence[str],
        random_title: str,
        *,
        budget: int | None = None,
    ) -> Plan:
        """``budget``: the associations that fit the endpoint deadline under the per-host
        rate (:func:`exposcan.probes.aetitle_order.associations_that_fit`), if fewer than
        ``options.ae_attempts``."""
        return cls(
            called_ae_title=options.called_ae_title,
            titles=(*options.ae_titles, *stock_titles),
            ae_attempts=min(options.ae_attempts, budget or options.ae_attempts),
            starts_tls=port in options.tls_ports,
            random_title=random_title,
            # An explicit ``--called-ae`` is asked first; the default title is only a guess.
            random_first=options.called_ae_title == DEFAULT_CALLED_AE_TITLE,
            user_titles=len(options.ae_titles),
            find=options.find,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class NextAttempt:
    """One association to open."""

    called_ae_title: str
    purpose: AttemptPurpose
    service_map: ServiceMap
    tls: bool


@dataclass(frozen=True, slots=True)
class Stop:
    reason: StopReason


@dataclass(frozen=True, kw_only=True, slots=True)
class Settled(Generic[A]):
    """The attempts an observation keeps, relabelled, and the protocol used."""

    attempts: tuple[A, ...]
    tls: bool


def next_attempt(plan: Plan, made: Sequence[AttemptRecord]) -> NextAttempt | Stop:
    """The association to open after ``made``, or why there is none.

    ``made`` holds every attempt opened so far, in order, each as the step this
    function answered before it; a list that does not follow the strategy raises
    :class:`ValueError`.
    """
    return _replay(plan, made).step


def settle(plan: Plan, made: Sequence[A]) -> Settled[A]:
    """The observation's attempts after ``made`` (whether or not the strategy stopped):
    a plaintext attempt followed by a working TLS one is ``plaintext``, a failed TLS
    retry is dropped, and a whole map followed by its halves is ``whole-map``."""
    progress = _replay(plan, made)
    return Settled(
        attempts=tuple(
            made[i] if made[i].purpose == purpose else dataclasses.replace(made[i], purpose=purpose)
            for i, purpose in progress.kept
        ),
        tls=progress.tls,
    )


@dataclass(frozen=True, slots=True)
class _Progress:
    step: NextAttempt | Stop
    #: Indexes into the attempts made, each with the purpose it is kept under.
    kept: tuple[tuple[int, AttemptPurpose], ...]
    tls: bool


def _replay(plan: Plan, made: Sequence[AttemptRecord]) -> _Progress:
    walk = _walk(plan)
    progress = next(walk)
    for attempt in made:
        step = progress.step
        if isinstance(step, Stop) or attempt.purpose != step.purpose:
            raise ValueError(f"attempt {attempt.purpose!r} does not follow the strategy")
        progress = walk.send(attempt)
    walk.close()
    return progress


def _walk(plan: Plan) -> Generator[_Progress, AttemptRecord, None]:
    """The strategy as one pass: yields each step, receives its attempt.

    A generator replayed from the start on every question, so the answer is a
    function of the attempts alone; ``kept`` changes only once an attempt that
    changes it exists (an endpoint deadline may end the walk at any step).
    """
    called = plan.called_ae_title
    if plan.random_first:
        opening, opening_as = plan.random_title, AttemptPurpose.RANDOM
    else:
        opening, opening_as = called, AttemptPurpose.FIRST
    tls = plan.starts_tls
    kept: tuple[tuple[int, AttemptPurpose], ...] = ()
    made = 0
    budget = plan.ae_attempts - 1  # the opening aside

    def ask(
        title: str,
        purpose: AttemptPurpose,
        service_map: ServiceMap = ServiceMap.WHOLE,
        *,
        over_tls: bool | None = None,
    ) -> _Progress:
        step = NextAttempt(
            called_ae_title=title,
            purpose=purpose,
            service_map=service_map,
            tls=tls if over_tls is None else over_tls,
        )
        return _Progress(step, kept, tls)

    def stop(reason: StopReason) -> _Progress:
        return _Progress(Stop(reason), kept, tls)

    def then_unasked(
        got_in: AttemptRecord, title: str, reason: StopReason
    ) -> Generator[_Progress, AttemptRecord, None]:
        """Stop for ``reason``, after asking on fresh associations what an exchange step
        that ended the association kept from us."""
        nonlocal kept, made, budget
        latest, later = got_in, _FRESH
        while plan.find and budget > 0 and (fresh := _unasked(latest, later)) is not None:
            budget -= 1
            # each fresh association asks less than the one before: two at most
            later = later[later.index(fresh) + 1 :]
            latest = yield ask(title, *fresh)
            kept, made = (*kept, (made, fresh[0])), made + 1
        yield stop(reason)

    first = yield ask(opening, opening_as)
    kept, made = ((0, opening_as),), 1
    if not tls and first.tls_suspected:
        retried = yield ask(opening, opening_as, over_tls=True)
        made += 1
        # A TLS failure without a handshake means not TLS after all: the plaintext
        # verdict stands and the retry is forgotten.
        if not (retried.status is Status.TLS_ERROR and retried.tls is None):
            tls = True
            kept = ((0, AttemptPurpose.PLAINTEXT), (1, opening_as))
            first = retried
    service_map = ServiceMap.WHOLE
    if _limited(first):
        if budget <= 0:
            yield stop(StopReason.BUDGET_SPENT)
            return
        budget -= 1
        service_map = ServiceMap.CORE
        first = yield ask(opening, opening_as, service_map)
        kept = (*kept[:-1], (kept[-1][0], AttemptPurpose.WHOLE_MAP), (made, opening_as))
        made += 1
        if first.accepted is not None and budget > 0:
            budget -= 1
            yield ask(opening, AttemptPurpose.STORAGE, ServiceMap.STORAGE)
            kept, made = (*kept, (made, AttemptPurpose.STORAGE)), made + 1
    if first.accepted is not None:
        if plan.random_first:  # a title nobody configured got in
            yield from then_unasked(first, opening, StopReason.AE_CHECK_TESTED)
            return
        if budget <= 0:
            yield stop(StopReason.BUDGET_SPENT)
            return
        budget -= 1
        yield ask(plan.random_title, AttemptPurpose.RANDOM, ServiceMap.VERIFICATION)
        kept, made = (*kept, (made, AttemptPurpose.RANDOM)), made + 1
        yield from then_unasked(first, opening, StopReason.AE_CHECK_TESTED)
        return
    if _rejected_for(first, REASON_CALLED_AE):
        guesses = plan.titles
        if plan.random_first and called not in guesses[plan.user_titles :]:
            # The default called title is a guess: after the user's titles, and where the
            # stock order puts it (it heads the file; a title that got in elsewhere goes
            # first), or before the stock titles if they lack it.
            users = plan.user_titles
            guesses = (*guesses[:users], called, *guesses[users:])
        tried = {opening}
        for title in guesses:
            if title in tried:
                continue
            if budget <= 0:
                yield stop(StopReason.BUDGET_SPENT)
                return
            tried.add(title)
            budget -= 1
            configured = plan.random_first and title == called
            if configured:
                role = AttemptPurpose.FIRST
            elif title in plan.titles[: plan.user_titles]:
                role = AttemptPurpose.USER
            else:
                role = AttemptPurpose.STOCK
            result = yield ask(title, role, service_map)
            kept, made = (*kept, (made, role)), made + 1
            if not _rejected_for(result, REASON_CALLED_AE):
                # The random title refused, the configured one accepted: the check is told.
                told = configured and result.accepted is not None
                reason = StopReason.AE_CHECK_TESTED if told else _ended_by(result)
                yield from then_unasked(result, title, reason)
                return
        yield stop(StopReason.TITLES_EXHAUSTED)
        return
    yield stop(_ended_by(first))


def _ended_by(attempt: AttemptRecord) -> StopReason:
    """Why an attempt that was not refused as an unknown called title ends the walk."""
    if attempt.accepted is not None:
        return StopReason.TITLE_FOUND
    if _rejected_for(attempt, REASON_CALLING_AE):
        return StopReason.CALLING_TITLE_CHECKED
    if attempt.rejected is not None:
        return StopReason.REFUSED
    if attempt.aborted is not None:
        return StopReason.ABORTED
    return StopReason.NO_ASSOCIATION


_Fresh = tuple[AttemptPurpose, ServiceMap]
#: The fresh associations, each asking less than the one before: the Q/R query (and the
#: worklist) behind an ended C-ECHO, then the worklist behind an ended C-ECHO or query.
_FRESH: tuple[_Fresh, ...] = (
    (AttemptPurpose.QUERY, ServiceMap.QUERY),
    (AttemptPurpose.WORKLIST, ServiceMap.WORKLIST),
)


def _unasked(attempt: AttemptRecord, among: tuple[_Fresh, ...]) -> _Fresh | None:
    """The fresh association (one of ``among``) that asks what ``attempt``'s ended
    exchange did not."""
    unasked = {AttemptPurpose.QUERY: attempt.query_unasked}
    unasked[AttemptPurpose.WORKLIST] = attempt.worklist_unasked
    return next((fresh for fresh in among if unasked[fresh[0]]), None)


def _limited(attempt: AttemptRecord) -> bool:
    """Refused in words that fit a cap on the request's size (PS3.8 §9.3.4).
    An A-ABORT is not retried: a peer that aborts strangers should hear from us once."""
    rejected = attempt.rejected
    if attempt.accepted is not None or rejected is None:
        return False
    return (rejected.source, rejected.reason) in _LIMIT_REASONS


def _rejected_for(attempt: AttemptRecord, reason: int) -> bool:
    rejected = attempt.rejected
    return rejected is not None and rejected.source == 1 and rejected.reason == reason

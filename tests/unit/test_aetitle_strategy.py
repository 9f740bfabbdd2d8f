"""The AE-title strategy walked through every path with attempt records built here:
no sockets, no event loop. The socket-level behaviour is tests/network/test_probe_dimse.py,
tests/network/test_context_limit.py and tests/unit/test_aetitles.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposcan.aetitles import parse_ae_titles, stock_ports, stock_titles
from exposcan.dicom import services
from exposcan.dicom.events import Aborted, AcceptedContext, AssociationAccepted, AssociationRejected
from exposcan.dicom.uids import IMPLICIT_VR_LITTLE_ENDIAN as IVRLE
from exposcan.dicom.uids import VERIFICATION
from exposcan.errors import OptionError
from exposcan.options import ScanOptions
from exposcan.probes.aetitle_order import associations_that_fit, order_titles
from exposcan.probes.aetitle_strategy import (
    AttemptPurpose,
    NextAttempt,
    Plan,
    ServiceMap,
    Stop,
    StopReason,
    next_attempt,
    settle,
)
from exposcan.probes.dimse_observation import Attempt, DimseObservation, FindOutcome
from exposcan.results import TlsFacts
from exposcan.vocabulary import Status

CALLED = "ANY-SCP"
RANDOM = "Q7XK2M9P4TLW8ZRB"
FIRST, STOCK = AttemptPurpose.FIRST, AttemptPurpose.STOCK
QUERY, WORKLIST = AttemptPurpose.QUERY, AttemptPurpose.WORKLIST
#: The fresh associations, and what an earlier attempt must have left unasked for each.
FRESH: dict[AttemptPurpose, Callable[[Attempt], bool]] = {
    QUERY: lambda a: a.query_unasked,
    WORKLIST: lambda a: a.worklist_unasked,
}

Outcome = Callable[[NextAttempt], Attempt]


def plan(
    *,
    titles: Sequence[str] = (),
    ae_attempts: int = 6,
    starts_tls: bool = False,
    random_first: bool = False,
) -> Plan:
    """``random_first=False`` (most tests below): the user named the called title
    (``--called-ae``); ``True`` is the default probe, which opens with a random title."""
    return Plan(
        called_ae_title=CALLED,
        titles=tuple(titles),
        ae_attempts=ae_attempts,
        starts_tls=starts_tls,
        random_title=RANDOM,
        random_first=random_first,
    )


def _made(step: NextAttempt, status: Status = Status.SUCCESS, **facts: object) -> Attempt:
    if step.tls and status is Status.SUCCESS and "tls" not in facts:
        facts["tls"] = TlsFacts(version="TLSv1.3")
    return Attempt(
        purpose=step.purpose,
        called_ae_title=step.called_ae_title,
        calling_ae_title="EXPOSCAN",
        status=status,
        **facts,  # type: ignore[arg-type]
    )


def accepted(step: NextAttempt) -> Attempt:
    return _made(
        step,
        accepted=AssociationAccepted(
            accepted=(),
            rejected=(),
            max_pdu_length=16384,
            implementation_class_uid=None,
            implementation_version_name=None,
            protocol_version=1,
        ),
    )


def find_outcome(service: str, level: str, outcome: str, count: int = 0) -> FindOutcome:
    return FindOutcome(
        service=service,
        level=level,
        count=count,
        cap=100,
        cancelled=False,
        final_status=None,
        outcome=outcome,
    )


def query_aborted(step: NextAttempt) -> Attempt:
    """Accepted with Modality Worklist, and the Q/R C-FIND aborted by the peer (Orthanc's
    default for strangers) before the worklist was asked."""
    got_in = accepted(step)
    assert got_in.accepted is not None
    contexts = (AcceptedContext(1, services.STUDY_ROOT_FIND, IVRLE),)
    if step.service_map is not ServiceMap.VERIFICATION:
        contexts += (AcceptedContext(3, services.WORKLIST_FIND, IVRLE),)
    return replace(
        got_in,
        accepted=replace(got_in.accepted, accepted=contexts),
        aborted=Aborted(source=0, reason=0, source_text="service-user", reason_text=""),
        find=find_outcome("study-root-find", "STUDY", "aborted"),
    )


def echo_aborted(step: NextAttempt) -> Attempt:
    """Accepted with Verification, Study Root FIND and Modality Worklist, and the C-ECHO
    aborted by the peer (Orthanc with DicomAlwaysAllowEcho false) before any C-FIND."""
    got_in = accepted(step)
    assert got_in.accepted is not None
    contexts = (
        AcceptedContext(1, VERIFICATION, IVRLE),
        AcceptedContext(3, services.STUDY_ROOT_FIND, IVRLE),
        AcceptedContext(5, services.WORKLIST_FIND, IVRLE),
    )
    return replace(
        got_in,
        accepted=replace(got_in.accepted, accepted=contexts),
        aborted=Aborted(source=0, reason=0, source_text="service-user", reason_text=""),
    )


def rejected(source: int, reason: int) -> Outcome:
    def answer(step: NextAttempt) -> Attempt:
        rj = AssociationRejected(
            result=1,
            source=source,
            reason=reason,
            result_text="rejected-permanent",
            source_text="service-user",
            reason_text="",
        )
        return _made(step, rejected=rj)

    return answer


def aborted(step: NextAttempt) -> Attempt:
    return _made(
        step, aborted=Aborted(source=2, reason=0, source_text="service-provider", reason_text="")
    )


def tls_suspected(step: NextAttempt) -> Attempt:
    return _made(step, Status.CONNECTION_CLOSED, tls_suspected=True)


def tls_failed(step: NextAttempt) -> Attempt:
    return _made(step, Status.TLS_ERROR)


def closed(step: NextAttempt) -> Attempt:
    return _made(step, Status.CONNECTION_CLOSED)


CALLED_UNKNOWN = rejected(1, 7)
CALLING_UNKNOWN = rejected(1, 3)
LIMIT_EXCEEDED = rejected(3, 2)
NO_REASON = rejected(1, 1)


def walk(
    the_plan: Plan, *outcomes: Outcome, then: Outcome = CALLED_UNKNOWN
) -> tuple[list[NextAttempt], StopReason, list[Attempt]]:
    """Answer each step with the next outcome (``then`` once they run out) until a stop."""
    steps: list[NextAttempt] = []
    made: list[Attempt] = []
    for _ in range(64):
        step = next_attempt(the_plan, made)
        if isinstance(step, Stop):
            return steps, step.reason, made
        steps.append(step)
        made.append((outcomes[len(made)] if len(made) < len(outcomes) else then)(step))
    raise AssertionError("the strategy never stopped")


def kept(the_plan: Plan, made: Sequence[Attempt]) -> list[str]:
    return [a.purpose for a in settle(the_plan, made).attempts]


def test_by_default_the_opening_is_a_random_title_with_the_whole_map() -> None:
    for starts_tls in (False, True):
        assert next_attempt(plan(random_first=True, starts_tls=starts_tls), []) == NextAttempt(
            called_ae_title=RANDOM,
            purpose=AttemptPurpose.RANDOM,
            service_map=ServiceMap.WHOLE,
            tls=starts_tls,
        )
    assert ServiceMap.WHOLE.exchange  # the random title carries C-ECHO and C-FIND


def test_an_open_peer_costs_one_association_under_the_random_title() -> None:
    the_plan = plan(random_first=True, titles=("ORTHANC",))
    steps, reason, made = walk(the_plan, accepted)
    assert [(s.called_ae_title, s.purpose) for s in steps] == [(RANDOM, AttemptPurpose.RANDOM)]
    assert reason is StopReason.AE_CHECK_TESTED
    assert kept(the_plan, made) == ["random"]
    observation = DimseObservation(
        host="h", port=1, attempts=settle(the_plan, made).attempts, duration_s=0
    )
    assert observation.first is made[0]  # the opening, whatever its purpose


def test_a_random_title_refused_as_unknown_tries_any_scp_then_the_stock_titles() -> None:
    the_plan = plan(random_first=True, titles=(CALLED, "ORTHANC", "DCM4CHEE"), ae_attempts=3)
    steps, reason, made = walk(the_plan, CALLED_UNKNOWN)
    assert [(s.called_ae_title, s.purpose) for s in steps] == [
        (RANDOM, AttemptPurpose.RANDOM),
        (CALLED, FIRST),
        ("ORTHANC", STOCK),
    ]
    assert all(s.service_map is ServiceMap.WHOLE for s in steps)
    assert reason is StopReason.BUDGET_SPENT
    assert kept(the_plan, made) == ["random", "first", "stock"]
    # ANY-SCP let in after the random title was refused: the check is tested.
    steps, reason, _ = walk(the_plan, CALLED_UNKNOWN, accepted)
    assert [s.called_ae_title for s in steps] == [RANDOM, CALLED]
    assert reason is StopReason.AE_CHECK_TESTED
    # A stock title let in.
    steps, reason, _ = walk(the_plan, CALLED_UNKNOWN, CALLED_UNKNOWN, accepted)
    assert reason is StopReason.TITLE_FOUND
    # The user's titles come before ANY-SCP, the stock ones after it.
    users = replace(the_plan, titles=("MINE", "ORTHANC"), user_titles=1)
    steps, _, _ = walk(users, CALLED_UNKNOWN)
    assert [s.called_ae_title for s in steps] == [RANDOM, "MINE", CALLED]
    # ... and are tried as the user's, never as a shipped default.
    assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM, AttemptPurpose.USER, FIRST]
    # ANY-SCP keeps its place in the stock order (a title found on another host leads).
    later = replace(the_plan, titles=("READWRITE", CALLED, "ORTHANC"))
    steps, _, _ = walk(later, CALLED_UNKNOWN)
    assert [(s.called_ae_title, s.purpose) for s in steps] == [
        (RANDOM, AttemptPurpose.RANDOM),
        ("READWRITE", STOCK),
        (CALLED, FIRST),
    ]


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (CALLING_UNKNOWN, StopReason.CALLING_TITLE_CHECKED),
        (aborted, StopReason.ABORTED),
        (rejected(2, 2), StopReason.REFUSED),
        (closed, StopReason.NO_ASSOCIATION),
    ],
)
def test_a_random_opening_answered_otherwise_ends_it(outcome: Outcome, reason: StopReason) -> None:
    steps, stopped, _ = walk(plan(random_first=True, titles=("A",)), outcome)
    assert len(steps) == 1
    assert stopped is reason


def test_one_attempt_by_default_is_the_random_title_alone() -> None:
    for outcome in (accepted, CALLED_UNKNOWN):
        steps, _, _ = walk(plan(random_first=True, ae_attempts=1, titles=("A",)), outcome)
        assert [s.called_ae_title for s in steps] == [RANDOM]


def test_halves_and_tls_retry_keep_the_random_title() -> None:
    the_plan = plan(random_first=True)
    steps, reason, made = walk(the_plan, tls_suspected, LIMIT_EXCEEDED, accepted, accepted)
    assert [(s.called_ae_title, s.purpose, s.service_map, s.tls) for s in steps] == [
        (RANDOM, AttemptPurpose.RANDOM, ServiceMap.WHOLE, False),
        (RANDOM, AttemptPurpose.RANDOM, ServiceMap.WHOLE, True),
        (RANDOM, AttemptPurpose.RANDOM, ServiceMap.CORE, True),
        (RANDOM, AttemptPurpose.STORAGE, ServiceMap.STORAGE, True),
    ]
    assert reason is StopReason.AE_CHECK_TESTED
    assert kept(the_plan, made) == ["plaintext", "whole-map", "random", "storage"]


def test_the_first_attempt_is_the_called_title_with_the_whole_map() -> None:
    assert next_attempt(plan(), []) == NextAttempt(
        called_ae_title=CALLED, purpose=FIRST, service_map=ServiceMap.WHOLE, tls=False
    )
    assert next_attempt(plan(starts_tls=True), []) == NextAttempt(
        called_ae_title=CALLED, purpose=FIRST, service_map=ServiceMap.WHOLE, tls=True
    )


def test_any_title_accepted_is_asked_once_with_a_random_title() -> None:
    the_plan = plan(titles=("ORTHANC",))
    steps, reason, made = walk(the_plan, accepted, accepted)
    assert [(s.called_ae_title, s.purpose, s.service_map) for s in steps] == [
        (CALLED, FIRST, ServiceMap.WHOLE),
        (RANDOM, AttemptPurpose.RANDOM, ServiceMap.VERIFICATION),
    ]
    assert not ServiceMap.VERIFICATION.exchange  # no C-ECHO/C-FIND under the random title
    assert reason is StopReason.AE_CHECK_TESTED
    assert kept(the_plan, made) == ["first", "random"]


def test_any_scp_configured_the_random_title_refused_ends_it() -> None:
    # The stock titles are for a peer that refused the called title, not this one.
    steps, reason, _ = walk(plan(titles=("ORTHANC",)), accepted, CALLED_UNKNOWN)
    assert [s.purpose for s in steps] == [FIRST, AttemptPurpose.RANDOM]
    assert reason is StopReason.AE_CHECK_TESTED


def test_called_title_checked_then_stock_titles_in_order_until_the_budget() -> None:
    the_plan = plan(
        titles=("ORTHANC", CALLED, "DCM4CHEE", "ORTHANC", "CONQUESTSRV1"), ae_attempts=3
    )
    steps, reason, made = walk(the_plan, CALLED_UNKNOWN)
    # The called title and repeats are not asked twice; the first attempt counts.
    assert [(s.called_ae_title, s.purpose) for s in steps] == [
        (CALLED, FIRST),
        ("ORTHANC", STOCK),
        ("DCM4CHEE", STOCK),
    ]
    assert all(s.service_map is ServiceMap.WHOLE for s in steps)
    assert reason is StopReason.BUDGET_SPENT
    assert kept(the_plan, made) == ["first", "stock", "stock"]


def test_a_stock_title_accepted_ends_it_without_a_random_title() -> None:
    steps, reason, _ = walk(plan(titles=("A", "B", "C")), CALLED_UNKNOWN, CALLED_UNKNOWN, accepted)
    assert [s.called_ae_title for s in steps] == [CALLED, "A", "B"]
    assert reason is StopReason.TITLE_FOUND


def test_every_stock_title_refused() -> None:
    steps, reason, _ = walk(plan(titles=("A", "B")), then=CALLED_UNKNOWN)
    assert [s.called_ae_title for s in steps] == [CALLED, "A", "B"]
    assert reason is StopReason.TITLES_EXHAUSTED


@pytest.mark.parametrize("at", [0, 1])
def test_a_calling_title_check_ends_it(at: int) -> None:
    outcomes = [CALLED_UNKNOWN] * at + [CALLING_UNKNOWN]
    steps, reason, _ = walk(plan(titles=("A", "B")), *outcomes)
    assert len(steps) == at + 1
    assert reason is StopReason.CALLING_TITLE_CHECKED


@pytest.mark.parametrize("at", [0, 1])
def test_an_abort_is_not_retried(at: int) -> None:
    outcomes = [CALLED_UNKNOWN] * at + [aborted]
    steps, reason, _ = walk(plan(titles=("A", "B")), *outcomes)
    assert len(steps) == at + 1
    assert reason is StopReason.ABORTED


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [(rejected(2, 2), StopReason.REFUSED), (closed, StopReason.NO_ASSOCIATION)],
)
def test_any_other_answer_ends_it(outcome: Outcome, reason: StopReason) -> None:
    steps, stopped, _ = walk(plan(titles=("A",)), outcome)
    assert len(steps) == 1
    assert stopped is reason


@pytest.mark.parametrize("limit", [LIMIT_EXCEEDED, NO_REASON])
def test_a_whole_map_refused_for_its_size_goes_in_halves(limit: Outcome) -> None:
    the_plan = plan()
    steps, reason, made = walk(the_plan, limit, accepted, accepted, accepted)
    assert [(s.called_ae_title, s.purpose, s.service_map) for s in steps] == [
        (CALLED, FIRST, ServiceMap.WHOLE),
        (CALLED, FIRST, ServiceMap.CORE),
        (CALLED, AttemptPurpose.STORAGE, ServiceMap.STORAGE),
        (RANDOM, AttemptPurpose.RANDOM, ServiceMap.VERIFICATION),
    ]
    assert ServiceMap.CORE.exchange
    assert not ServiceMap.STORAGE.exchange
    assert reason is StopReason.AE_CHECK_TESTED
    assert kept(the_plan, made) == ["whole-map", "first", "storage", "random"]


def test_halves_within_the_budget() -> None:
    the_plan = plan(ae_attempts=2)
    steps, reason, made = walk(the_plan, LIMIT_EXCEEDED, accepted)
    assert [s.service_map for s in steps] == [ServiceMap.WHOLE, ServiceMap.CORE]
    assert reason is StopReason.BUDGET_SPENT
    assert kept(the_plan, made) == ["whole-map", "first"]
    # No budget for halves at all: the refusal stands as the first attempt.
    steps, reason, made = walk(plan(ae_attempts=1), LIMIT_EXCEEDED)
    assert (len(steps), reason, kept(plan(ae_attempts=1), made)) == (
        1,
        StopReason.BUDGET_SPENT,
        ["first"],
    )


def test_halves_refused_for_the_called_title_try_stock_titles_with_the_core_half() -> None:
    steps, reason, _ = walk(plan(titles=("A",)), LIMIT_EXCEEDED, CALLED_UNKNOWN, accepted)
    assert [(s.called_ae_title, s.purpose, s.service_map) for s in steps] == [
        (CALLED, FIRST, ServiceMap.WHOLE),
        (CALLED, FIRST, ServiceMap.CORE),
        ("A", STOCK, ServiceMap.CORE),
    ]
    assert reason is StopReason.TITLE_FOUND


def test_the_whole_map_stays_first_until_its_halves_exist() -> None:
    # The endpoint deadline can stop the driver before the core half is opened.
    the_plan = plan()
    made = [LIMIT_EXCEEDED(next_attempt(the_plan, []))]
    assert isinstance(step := next_attempt(the_plan, made), NextAttempt)
    assert step.service_map is ServiceMap.CORE
    assert kept(the_plan, made) == ["first"]


def test_plaintext_answered_like_tls_is_retried_over_tls_outside_the_budget() -> None:
    the_plan = plan(ae_attempts=2)
    steps, reason, made = walk(the_plan, tls_suspected, accepted, accepted)
    assert [(s.purpose, s.tls) for s in steps] == [
        (FIRST, False),
        (FIRST, True),
        (AttemptPurpose.RANDOM, True),
    ]
    assert reason is StopReason.AE_CHECK_TESTED
    settled = settle(the_plan, made)
    assert [a.purpose for a in settled.attempts] == ["plaintext", "first", "random"]
    assert settled.tls
    # The observation's first attempt is the one in the protocol finally used.
    observation = DimseObservation(host="h", port=1, attempts=settled.attempts, duration_s=0)
    assert observation.first is made[1]


def test_a_tls_retry_that_fails_as_tls_keeps_the_plaintext_verdict() -> None:
    the_plan = plan()
    steps, reason, made = walk(the_plan, tls_suspected, tls_failed)
    assert [s.tls for s in steps] == [False, True]
    assert reason is StopReason.NO_ASSOCIATION
    settled = settle(the_plan, made)
    assert settled.attempts == (made[0],)
    assert not settled.tls


def test_a_tls_retry_that_wants_a_client_certificate_counts_as_tls() -> None:
    def certificate_required(step: NextAttempt) -> Attempt:
        return _made(step, Status.TLS_ERROR, tls=TlsFacts(client_certificate_required=True))

    the_plan = plan()
    _, reason, made = walk(the_plan, tls_suspected, certificate_required)
    assert reason is StopReason.NO_ASSOCIATION
    assert kept(the_plan, made) == ["plaintext", "first"]
    assert settle(the_plan, made).tls


def test_no_plaintext_retry_on_a_tls_port_nor_before_the_retry_exists() -> None:
    steps, reason, _ = walk(plan(starts_tls=True), tls_suspected)
    assert len(steps) == 1
    assert steps[0].tls
    assert reason is StopReason.NO_ASSOCIATION
    # Deadline before the TLS retry: plaintext, and the attempt stays "first".
    the_plan = plan()
    made = [tls_suspected(next_attempt(the_plan, []))]
    settled = settle(the_plan, made)
    assert [a.purpose for a in settled.attempts] == ["first"]
    assert not settled.tls


def test_budget_exhausted_after_an_accepted_first_attempt() -> None:
    steps, reason, _ = walk(plan(ae_attempts=1, titles=("A",)), accepted)
    assert len(steps) == 1
    assert reason is StopReason.BUDGET_SPENT


def test_attempts_that_do_not_follow_the_strategy_are_refused() -> None:
    the_plan = plan()
    first = accepted(next_attempt(the_plan, []))
    stranger = accepted(
        NextAttempt(called_ae_title="X", purpose=STOCK, service_map=ServiceMap.WHOLE, tls=False)
    )
    with pytest.raises(ValueError, match="does not follow"):
        next_attempt(the_plan, [first, stranger])
    step = next_attempt(the_plan, [first])
    assert isinstance(step, NextAttempt)
    random = accepted(step)
    with pytest.raises(ValueError, match="does not follow"):
        next_attempt(the_plan, [first, random, random])  # after the stop


def test_the_plan_of_the_options() -> None:
    options = ScanOptions(called_ae_title="MINE", ae_titles=("USER",), ae_attempts=4)
    the_plan = Plan.of(options, 2762, ("STOCK",), RANDOM)
    assert the_plan == Plan(
        called_ae_title="MINE",
        titles=("USER", "STOCK"),
        ae_attempts=4,
        starts_tls=True,
        random_title=RANDOM,
        random_first=False,  # the user named a title: it is asked first
        user_titles=1,
    )
    assert not Plan.of(options, 104, (), RANDOM).starts_tls
    assert Plan.of(ScanOptions(), 104, (), RANDOM).random_first


OUTCOMES: list[Outcome] = [
    accepted,
    query_aborted,
    echo_aborted,
    CALLED_UNKNOWN,
    CALLING_UNKNOWN,
    LIMIT_EXCEEDED,
    NO_REASON,
    rejected(2, 1),
    aborted,
    tls_suspected,
    tls_failed,
    closed,
]


@settings(max_examples=300, deadline=None)
@given(
    answers=st.lists(st.sampled_from(OUTCOMES), max_size=12),
    then=st.sampled_from(OUTCOMES),
    ae_attempts=st.integers(1, 8),
    titles=st.lists(st.sampled_from(["A", "B", "C", CALLED]), max_size=6),
    starts_tls=st.booleans(),
    random_first=st.booleans(),
)
def test_every_walk_stops_within_the_budget(
    answers: list[Outcome],
    then: Outcome,
    ae_attempts: int,
    titles: list[str],
    starts_tls: bool,
    random_first: bool,
) -> None:
    the_plan = plan(
        titles=titles, ae_attempts=ae_attempts, starts_tls=starts_tls, random_first=random_first
    )
    steps, _, made = walk(the_plan, *answers, then=then)
    # The TLS retry is the only association outside the budget.
    assert len(steps) <= ae_attempts + 1
    stock = [s.called_ae_title for s in steps if s.purpose is STOCK]
    assert len(stock) == len(set(stock))
    assert CALLED not in stock
    settled = settle(the_plan, made)
    purposes = [a.purpose for a in settled.attempts]
    opening = AttemptPurpose.RANDOM if random_first else FIRST
    assert next(p for p in purposes if p in (FIRST, AttemptPurpose.RANDOM)) == opening
    assert purposes.count(FIRST) <= 1
    assert purposes.count(AttemptPurpose.RANDOM) <= 1
    # Nothing more after the random title got in.
    if random_first and any(a.accepted for a in made if a.purpose is AttemptPurpose.RANDOM):
        assert all(s.called_ae_title == RANDOM for s in steps)
    # One query and one worklist association at most, the query first, each after one
    # that left it unasked, under the title that got in.
    fresh = [(i, s) for i, s in enumerate(steps) if s.purpose in FRESH]
    assert [s.purpose for _, s in fresh] in ([], [QUERY], [WORKLIST], [QUERY, WORKLIST])
    for i, step in fresh:
        assert step.service_map.value == step.purpose.value
        assert any(
            FRESH[step.purpose](a) and a.called_ae_title == step.called_ae_title for a in made[:i]
        )
    # Only a failed TLS retry is dropped.
    assert len(made) - len(settled.attempts) in (0, 1)


# --- the worklist behind a refused query (issue 14, item 2) -----------------------------


def test_a_query_that_ended_the_association_is_followed_by_the_worklist() -> None:
    the_plan = plan(random_first=True, titles=("ORTHANC",))
    steps, reason, made = walk(the_plan, query_aborted, accepted)
    assert steps[1] == NextAttempt(
        called_ae_title=RANDOM,  # the title that got in
        purpose=AttemptPurpose.WORKLIST,
        service_map=ServiceMap.WORKLIST,
        tls=False,
    )
    assert ServiceMap.WORKLIST.exchange
    assert len(steps) == 2  # once, whatever the fresh association shows
    assert reason is StopReason.AE_CHECK_TESTED
    assert kept(the_plan, made) == ["random", "worklist"]


def test_the_worklist_is_asked_under_the_stock_title_that_got_in() -> None:
    the_plan = plan(random_first=True, titles=("ORTHANC", "OTHER"))
    steps, reason, made = walk(the_plan, CALLED_UNKNOWN, CALLED_UNKNOWN, query_aborted, closed)
    assert [(s.called_ae_title, s.purpose) for s in steps] == [
        (RANDOM, AttemptPurpose.RANDOM),
        (CALLED, FIRST),
        ("ORTHANC", STOCK),
        ("ORTHANC", AttemptPurpose.WORKLIST),
    ]
    assert reason is StopReason.TITLE_FOUND
    assert kept(the_plan, made)[-1] == "worklist"


def test_after_a_named_title_the_random_check_comes_before_the_worklist() -> None:
    steps, reason, _ = walk(plan(), query_aborted, CALLED_UNKNOWN, accepted)
    assert [(s.called_ae_title, s.purpose) for s in steps] == [
        (CALLED, FIRST),
        (RANDOM, AttemptPurpose.RANDOM),
        (CALLED, AttemptPurpose.WORKLIST),
    ]
    assert reason is StopReason.AE_CHECK_TESTED


def test_the_worklist_association_is_within_the_budget() -> None:
    steps, reason, _ = walk(plan(random_first=True, ae_attempts=1), query_aborted)
    assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM]
    assert reason is StopReason.AE_CHECK_TESTED
    steps, _, _ = walk(plan(ae_attempts=2), query_aborted, CALLED_UNKNOWN)
    assert [s.purpose for s in steps] == [FIRST, AttemptPurpose.RANDOM]  # budget spent


def test_no_worklist_association_unless_the_query_kept_it_from_us() -> None:
    def no_worklist_context(step: NextAttempt) -> Attempt:
        made = query_aborted(step)
        assert made.accepted is not None
        return replace(made, accepted=replace(made.accepted, accepted=made.accepted.accepted[:1]))

    def worklist_asked(step: NextAttempt) -> Attempt:
        made = query_aborted(step)
        assert made.find is not None
        return replace(made, worklist=replace(made.find, service="worklist-find"))

    def query_refused(step: NextAttempt) -> Attempt:
        made = query_aborted(step)
        assert made.find is not None
        return replace(made, aborted=None, find=replace(made.find, outcome="refused"))

    for outcome in (accepted, no_worklist_context, worklist_asked, query_refused):
        assert not outcome(next_attempt(plan(), [])).worklist_unasked
        steps, _, _ = walk(plan(random_first=True), outcome)
        assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM], outcome
    assert query_aborted(next_attempt(plan(), [])).worklist_unasked


def test_importing_the_strategy_loads_no_io() -> None:
    code = (
        "import sys\n"
        "import exposcan.probes.aetitle_strategy, exposcan.probes.dimse_observation\n"
        "import exposcan.probes.aetitle_order\n"
        "print(sorted(m for m in sys.modules if m.startswith(("
        "'exposcan.net', 'asyncio', 'aiohttp'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout


# --- the order of the stock titles (exposcan.probes.aetitle_order) --------------------


def stock_order(port: int, **kw: object) -> list[str]:
    return list(
        order_titles(stock_titles(), port=port, port_products=stock_ports(), **kw)  # type: ignore[arg-type]
    )


FILE_ORDER = [t.value for t in stock_titles()]


@pytest.mark.parametrize("port", [104, 2762, 40000])
def test_a_port_no_product_is_known_for_keeps_the_files_order(port: int) -> None:
    assert stock_order(port) == FILE_ORDER


def test_orthancs_port_tries_orthancs_title_first() -> None:
    order = stock_order(4242)
    assert order[0] == "ORTHANC"
    assert order == ["ORTHANC", *(v for v in FILE_ORDER if v != "ORTHANC")]


def test_11112_tries_dcm4che_dcmtk_and_horos_titles_before_orthanc() -> None:
    order = stock_order(11112)
    products = {t.value: t.product.lower() for t in stock_titles()}
    wanted = [v for v in FILE_ORDER if any(p in products[v] for p in ("dcm4che", "dcmtk", "horos"))]
    assert order[: len(wanted)] == wanted  # the port's titles, in the file's order
    assert order.index("ORTHANC") == len(wanted)  # the first title of no such product
    assert order.index("READWRITE") < order.index("ORTHANC")
    assert sorted(order) == sorted(FILE_ORDER)


@pytest.mark.parametrize(("port", "title"), [(5678, "CONQUESTSRV1"), (6666, "DICOOGLE-STORAGE")])
def test_a_products_own_port_puts_its_title_first(port: int, title: str) -> None:
    assert stock_order(port)[0] == title


def test_what_worked_on_other_hosts_comes_first_most_hosts_first() -> None:
    order = stock_order(11112, worked={"OFFIS": 1, "WEASIS_AE": 3, "READ": 0})
    assert order[:2] == ["WEASIS_AE", "OFFIS"]
    assert order.count("OFFIS") == 1
    assert order[2] == stock_order(11112)[0]  # then the port's


def test_a_claimed_product_comes_before_the_ports() -> None:
    order = stock_order(11112, claimed=["Conquest"])
    assert order[0] == "CONQUESTSRV1"


@given(
    port=st.sampled_from([104, 4242, 5678, 6666, 11112, 1]),
    worked=st.dictionaries(st.sampled_from(FILE_ORDER), st.integers(0, 5), max_size=5),
    claimed=st.lists(st.sampled_from(["Orthanc", "Dicoogle", "Weasis", "nothing"]), max_size=2),
)
@settings(max_examples=200, deadline=None)
def test_the_order_is_always_every_title_once(
    port: int, worked: dict[str, int], claimed: list[str]
) -> None:
    order = stock_order(port, worked=worked, claimed=claimed)
    assert sorted(order) == sorted(FILE_ORDER)


def test_every_port_table_has_a_source_and_reaches_a_title() -> None:
    ports = stock_ports()
    assert {4242, 11112, 5678, 6666, 104} <= set(ports)
    products = [t.product.lower() for t in stock_titles()]
    for port, names in ports.items():
        for name in names:
            assert any(name.lower() in p for p in products), (port, name)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[[port]]\nnumber = 0\nproducts = []\nsource = 's'\n", "from 1 to 65535"),
        ("[[port]]\nnumber = 104\nproducts = 'x'\nsource = 's'\n", "list of names"),
        ("[[port]]\nnumber = 104\nproducts = []\n", "needs a 'source'"),
        ("[[port]]\nnumber = 104\nproducts = []\nsource = 's'\nextra = 1\n", "unknown key"),
        (
            "[[port]]\nnumber = 104\nproducts = []\nsource = 's'\n" * 2,
            "appears twice",
        ),
    ],
)
def test_a_bad_port_table_is_one_line_naming_it(body: str, problem: str) -> None:
    with pytest.raises(OptionError, match=problem):
        parse_ae_titles(body + "[[title]]\nvalue = 'X'\n", "f.toml", toml=True)


@pytest.mark.parametrize(
    ("endpoint", "rate", "fit"), [(10, 2, 20), (2, 2, 4), (10, 0.5, 5), (0.1, 2, 2), (1, 0.1, 1)]
)
def test_associations_that_fit_the_deadline_under_the_rate(
    endpoint: float, rate: float, fit: int
) -> None:
    assert associations_that_fit(endpoint, rate) == fit


async def test_a_scan_tries_first_what_got_in_on_another_host(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The DIMSE run learns: a stock title found on one host leads on the next."""
    from exposcan.probe import Endpoint
    from exposcan.probes import dimse
    from exposcan.vocabulary import Protocol

    asked: list[tuple[str, ...]] = []
    randoms: list[str] = []

    async def fake_probe(host, port, options, *, permit=None, stock_titles=(), random_title=None):  # type: ignore[no-untyped-def]
        asked.append(tuple(stock_titles))
        randoms.append(random_title)
        found = accepted(
            NextAttempt(
                called_ae_title="OFFIS", purpose=STOCK, service_map=ServiceMap.WHOLE, tls=False
            )
        )
        return DimseObservation(host=host, port=port, attempts=(found,), duration_s=0.0)

    async def permit() -> None:
        return None

    monkeypatch.setattr(dimse, "probe_dimse", fake_probe)
    async with dimse.PROBE.start(ScanOptions()) as run:
        for host in ("127.0.0.2", "127.0.0.3"):
            await run.observe(Endpoint(host, 104, Protocol.DIMSE), permit)
    assert list(asked[0]) == FILE_ORDER
    assert asked[1][0] == "OFFIS"
    assert sorted(asked[1]) == sorted(FILE_ORDER)
    # One random title for the scan (a product's AC bytes stay alike, their decoding
    # cached); another scan draws another.
    assert len(randoms[0]) == 16
    assert randoms[0] == randoms[1]
    async with dimse.PROBE.start(ScanOptions()) as run:
        await run.observe(Endpoint("127.0.0.2", 104, Protocol.DIMSE), permit)
    assert randoms[2] != randoms[0]


def search_observation(search_end: str, untried: int) -> DimseObservation:
    first = CALLED_UNKNOWN(
        NextAttempt(called_ae_title=CALLED, purpose=FIRST, service_map=ServiceMap.WHOLE, tls=False)
    )
    stock = CALLED_UNKNOWN(
        NextAttempt(
            called_ae_title="ORTHANC", purpose=STOCK, service_map=ServiceMap.WHOLE, tls=False
        )
    )
    return DimseObservation(
        host="127.0.0.1",
        port=104,
        attempts=(first, stock),
        duration_s=1.0,
        search_end=search_end,
        titles_untried=untried,
    )


@pytest.mark.parametrize(
    ("search_end", "untried", "said"),
    [
        (
            "budget-spent",
            27,
            "the attempt budget (ae_attempts), not the peer, ended the search with "
            "27 title(s) untried (the site's own titles in --ae-titles, or a larger "
            "--ae-attempts (at most 32), reach further)",
        ),
        (
            "endpoint-deadline",
            3,
            "the endpoint deadline (under the per-host rate), not the peer, ended the search "
            "with 3 title(s) untried (the site's own titles in --ae-titles, or a longer "
            "--timeout or a higher --per-host-rate, reach further)",
        ),
        ("titles-exhausted", 0, None),
        ("budget-spent", 0, None),
    ],
)
def test_the_result_says_when_the_budget_not_the_peer_ended_the_search(
    search_end: str, untried: int, said: str | None
) -> None:
    from exposcan.classify import classify_dimse

    verdict = classify_dimse(search_observation(search_end, untried))
    (checked,) = [f for f in verdict.findings if f.id == "dicom-called-ae-checked"]
    if said is None:
        assert "not the peer" not in checked.evidence
    else:
        assert checked.evidence.endswith(said)


def test_titles_given_with_ae_titles_and_refused_are_named_in_the_evidence() -> None:
    """ "None accepted" must not read as if only stock titles were tried: the caller's own
    titles, refused too, are counted and named (they are the caller's, not the peer's)."""
    from exposcan.classify import classify_dimse

    given = CALLED_UNKNOWN(
        NextAttempt(
            called_ae_title="RADIOLOGY_PACS",
            purpose=AttemptPurpose.USER,
            service_map=ServiceMap.WHOLE,
            tls=False,
        )
    )
    base = search_observation("titles-exhausted", 0)
    observation = replace(base, attempts=(*base.attempts, given))
    (checked,) = [
        f for f in classify_dimse(observation).findings if f.id == "dicom-called-ae-checked"
    ]
    assert "1 stock title(s) and 1 given with --ae-titles ('RADIOLOGY_PACS') tried" in (
        checked.evidence
    )
    (plain,) = [f for f in classify_dimse(base).findings if f.id == "dicom-called-ae-checked"]
    assert "--ae-titles" not in plain.evidence


@pytest.mark.parametrize(
    ("rate", "made", "search_end"), [(0.2, 2, "endpoint-deadline"), (20, 6, "budget-spent")]
)
async def test_the_budget_is_what_fits_the_deadline_under_the_rate(
    monkeypatch, rate: float, made: int, search_end: str
) -> None:  # type: ignore[no-untyped-def]
    """At 0.2 associations/s, 10 s fit two (the random title and ANY-SCP): the search
    says the deadline ended it. Socket-free: each association is answered here."""
    from exposcan.options import Limits
    from exposcan.probes import dimse

    opened: list[str] = []

    async def fake_attempt(host, port, options, step, deadline, tls):  # type: ignore[no-untyped-def]
        opened.append(step.called_ae_title)
        return CALLED_UNKNOWN(step)

    async def permit() -> None:
        return None

    monkeypatch.setattr(dimse, "_attempt", fake_attempt)
    options = ScanOptions(limits=Limits(per_host_rate=rate))
    observation = await dimse.probe_dimse(
        "127.0.0.1", 104, options, permit=permit, stock_titles=FILE_ORDER
    )
    assert len(opened) == made
    assert opened[1] == "ANY-SCP"  # after the random title, which is no list's
    assert observation.search_end == search_end
    untried = len(FILE_ORDER) - (made - 1)
    assert observation.titles_untried == untried
    from exposcan.classify import classify_dimse

    (checked,) = [
        f for f in classify_dimse(observation).findings if f.id == "dicom-called-ae-checked"
    ]
    assert f"{untried} title(s) untried" in checked.evidence


def test_the_verdict_counts_the_worklist_of_the_fresh_association() -> None:
    from exposcan.classify import classify_dimse
    from exposcan.results import Verdict
    from exposcan.vocabulary import Exposure

    the_plan = plan(random_first=True)

    def items(step: NextAttempt) -> Attempt:
        made = accepted(step)
        assert made.accepted is not None
        contexts = (AcceptedContext(3, services.WORKLIST_FIND, IVRLE),)
        found = find_outcome("worklist-find", "WORKLIST", "matches", count=7)
        return replace(made, accepted=replace(made.accepted, accepted=contexts), worklist=found)

    def verdict(*outcomes: Outcome) -> Verdict:
        _, _, made = walk(the_plan, *outcomes)
        observation = DimseObservation(
            host="h", port=1, attempts=settle(the_plan, made).attempts, duration_s=0
        )
        return classify_dimse(observation)

    counted = verdict(query_aborted, items)
    assert counted.exposure is Exposure.QUERY
    assert counted.matches is not None
    assert (counted.matches.count, counted.matches.level) == (7, "WORKLIST")
    by_id = {f.id: f for f in counted.findings}
    assert {"dicom-query-refused", "dicom-worklist-matches"} <= set(by_id)
    assert "fresh association" in by_id["dicom-worklist-matches"].evidence
    assert "dicom-worklist-offered" not in by_id
    # The fresh association refused: the verdict is what the first one showed.
    alone = verdict(query_aborted, aborted)
    assert alone.exposure is not Exposure.QUERY
    assert alone.matches is None
    assert {"dicom-query-refused", "dicom-worklist-offered"} <= {f.id for f in alone.findings}

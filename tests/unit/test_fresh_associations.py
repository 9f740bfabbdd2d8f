"""What an exchange step that ended the association kept from us, asked afresh (issue 14):
the query behind an aborted or closed C-ECHO (Orthanc with DicomAlwaysAllowEcho false
aborts a stranger's C-ECHO and answers its C-FIND), and the worklist behind it. The pure
strategy, the attempt records and the verdict, without sockets (the socket-level
behaviour is tests/network/test_fresh_query.py)."""

from __future__ import annotations

from dataclasses import replace

from exposcan.classify import ANY_TITLE, classify_dimse
from exposcan.dicom import services
from exposcan.dicom.events import AcceptedContext
from exposcan.dicom.uids import IMPLICIT_VR_LITTLE_ENDIAN as IVRLE
from exposcan.dicom.uids import VERIFICATION
from exposcan.options import ScanOptions
from exposcan.probes.aetitle_strategy import NextAttempt, Plan, ServiceMap, StopReason, settle
from exposcan.probes.dimse import QUERY_ONLY, WORKLIST_ONLY
from exposcan.probes.dimse_observation import Attempt, DimseObservation
from exposcan.results import Verdict
from exposcan.vocabulary import AttemptPurpose, Exposure, Status
from tests.unit.test_aetitle_strategy import (
    CALLED,
    CALLED_UNKNOWN,
    FIRST,
    QUERY,
    RANDOM,
    STOCK,
    WORKLIST,
    Outcome,
    aborted,
    accepted,
    echo_aborted,
    find_outcome,
    kept,
    plan,
    query_aborted,
    walk,
)


def echo_closed(step: NextAttempt) -> Attempt:
    """The peer closed the connection at the C-ECHO (no A-ABORT, no release)."""
    return replace(echo_aborted(step), aborted=None, status=Status.CONNECTION_CLOSED)


def echo_timed_out(step: NextAttempt) -> Attempt:
    """The C-ECHO was never answered: a silent peer, not one that ended the association."""
    return replace(echo_aborted(step), aborted=None, status=Status.IO_TIMEOUT)


def contexts(*uids: str) -> Outcome:
    """``echo_aborted`` with only these contexts accepted."""

    def answer(step: NextAttempt) -> Attempt:
        made = echo_aborted(step)
        assert made.accepted is not None
        kept = tuple(c for c in made.accepted.accepted if c.abstract_syntax in uids)
        return replace(made, accepted=replace(made.accepted, accepted=kept))

    return answer


def matches(count: int, *, worklist: int | None = None) -> Outcome:
    """The fresh association's answer: Study Root FIND (and the worklist) counted."""

    def answer(step: NextAttempt) -> Attempt:
        made = accepted(step)
        assert made.accepted is not None
        found: tuple[AcceptedContext, ...] = (AcceptedContext(1, services.STUDY_ROOT_FIND, IVRLE),)
        if worklist is not None:
            found += (AcceptedContext(5, services.WORKLIST_FIND, IVRLE),)
        items = find_outcome("worklist-find", "WORKLIST", "matches", worklist or 0)
        return replace(
            made,
            accepted=replace(made.accepted, accepted=found),
            find=find_outcome("study-root-find", "STUDY", "matches", count),
            worklist=items if worklist is not None else None,
        )

    return answer


def worklist_items(count: int) -> Outcome:
    def answer(step: NextAttempt) -> Attempt:
        made = accepted(step)
        assert made.accepted is not None
        found = (AcceptedContext(5, services.WORKLIST_FIND, IVRLE),)
        items = find_outcome("worklist-find", "WORKLIST", "matches", count)
        return replace(made, accepted=replace(made.accepted, accepted=found), worklist=items)

    return answer


def verdict(the_plan: Plan, *outcomes: Outcome) -> Verdict:
    _, _, made = walk(the_plan, *outcomes)
    observation = DimseObservation(
        host="h", port=1, attempts=settle(the_plan, made).attempts, duration_s=0
    )
    return classify_dimse(observation)


# --- the records ------------------------------------------------------------------------


def test_an_echo_that_ended_the_association_leaves_its_queries_unasked() -> None:
    step = NextAttempt(
        called_ae_title=RANDOM,
        purpose=AttemptPurpose.RANDOM,
        service_map=ServiceMap.WHOLE,
        tls=False,
    )
    for ended in (echo_aborted, echo_closed):
        made = ended(step)
        assert made.ended_at_echo
        assert made.query_unasked
        assert made.worklist_unasked
    answered = replace(echo_aborted(step), aborted=None, echo_status=0x0000)
    for made in (
        answered,
        echo_timed_out(step),
        contexts(services.STUDY_ROOT_FIND, services.WORKLIST_FIND)(step),  # no echo sent
        accepted(step),
    ):
        assert not made.ended_at_echo, made
        assert not made.query_unasked, made
        assert not made.worklist_unasked, made
    worklist_only = contexts(VERIFICATION, services.WORKLIST_FIND)(step)
    assert worklist_only.ended_at_echo
    assert not worklist_only.query_unasked
    assert worklist_only.worklist_unasked
    echo_only = contexts(VERIFICATION)(step)
    assert echo_only.ended_at_echo
    assert not echo_only.query_unasked
    assert not echo_only.worklist_unasked


# --- the strategy -----------------------------------------------------------------------


def test_the_query_behind_an_aborted_echo_is_asked_on_a_fresh_association() -> None:
    the_plan = plan(random_first=True, titles=("ORTHANC",))
    for ended in (echo_aborted, echo_closed):
        steps, reason, made = walk(the_plan, ended, matches(3))
        assert steps[1] == NextAttempt(
            called_ae_title=RANDOM,  # the title that got in
            purpose=QUERY,
            service_map=ServiceMap.QUERY,
            tls=False,
        )
        assert ServiceMap.QUERY.exchange
        assert len(steps) == 2
        assert reason is StopReason.AE_CHECK_TESTED
        assert kept(the_plan, made) == ["random", "query"]


def test_the_fresh_maps_propose_no_verification() -> None:
    proposed = {c.abstract_syntax for c in QUERY_ONLY}
    assert proposed == {
        services.STUDY_ROOT_FIND,
        services.PATIENT_ROOT_FIND,
        services.WORKLIST_FIND,
    }
    assert {c.abstract_syntax for c in WORKLIST_ONLY} == {services.WORKLIST_FIND}


def test_a_fresh_query_that_is_itself_aborted_is_followed_by_the_worklist_once() -> None:
    the_plan = plan(random_first=True)
    steps, reason, made = walk(the_plan, echo_aborted, query_aborted, query_aborted)
    assert [(s.purpose, s.service_map) for s in steps] == [
        (AttemptPurpose.RANDOM, ServiceMap.WHOLE),
        (QUERY, ServiceMap.QUERY),
        (WORKLIST, ServiceMap.WORKLIST),
    ]  # the worklist association, however it ends, is the last
    assert reason is StopReason.AE_CHECK_TESTED
    assert kept(the_plan, made) == ["random", "query", "worklist"]


def test_an_aborted_echo_with_the_worklist_alone_asks_the_worklist() -> None:
    the_plan = plan(random_first=True)
    steps, _, _ = walk(the_plan, contexts(VERIFICATION, services.WORKLIST_FIND), aborted)
    assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM, WORKLIST]


def test_the_fresh_query_comes_under_the_stock_title_after_the_random_check() -> None:
    the_plan = plan(random_first=True, titles=("ORTHANC",))
    steps, reason, _ = walk(the_plan, CALLED_UNKNOWN, CALLED_UNKNOWN, echo_aborted, matches(1))
    assert [(s.called_ae_title, s.purpose) for s in steps] == [
        (RANDOM, AttemptPurpose.RANDOM),
        (CALLED, FIRST),
        ("ORTHANC", STOCK),
        ("ORTHANC", QUERY),
    ]
    assert reason is StopReason.TITLE_FOUND
    steps, _, _ = walk(plan(), echo_aborted, CALLED_UNKNOWN, matches(1))
    assert [(s.called_ae_title, s.purpose) for s in steps] == [
        (CALLED, FIRST),
        (RANDOM, AttemptPurpose.RANDOM),
        (CALLED, QUERY),
    ]


def test_the_fresh_associations_are_within_the_budget() -> None:
    steps, _, _ = walk(plan(random_first=True, ae_attempts=1), echo_aborted)
    assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM]
    steps, _, _ = walk(plan(random_first=True, ae_attempts=2), echo_aborted, query_aborted)
    assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM, QUERY]  # no worklist left


def test_nothing_is_asked_afresh_without_c_find_or_without_an_ended_echo() -> None:
    no_find = replace(plan(random_first=True), find=False)
    assert Plan.of(ScanOptions(find=False), 104, (), RANDOM).find is False
    steps, _, _ = walk(no_find, echo_aborted)
    assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM]
    for outcome in (echo_timed_out, contexts(VERIFICATION), aborted, accepted):
        steps, _, _ = walk(plan(random_first=True), outcome)
        assert [s.purpose for s in steps] == [AttemptPurpose.RANDOM], outcome


# --- the verdict ------------------------------------------------------------------------


def test_the_verdict_counts_the_query_of_the_fresh_association() -> None:
    counted = verdict(plan(random_first=True), echo_aborted, matches(3, worklist=2))
    assert counted.exposure is Exposure.QUERY
    assert counted.matches is not None
    assert (counted.matches.count, counted.matches.level) == (3, "STUDY")
    by_id = {f.id: f for f in counted.findings}
    assert {"dicom-query-matches", "dicom-worklist-matches"} <= set(by_id)
    ended = "on a fresh association (the C-ECHO had ended the first)"
    assert ended in by_id["dicom-query-matches"].evidence
    assert ended in by_id["dicom-worklist-matches"].evidence
    assert "dicom-echo-unauthenticated" not in by_id  # the aborted echo is no echo
    assert counted.ae_title == ANY_TITLE  # the random title got in: any title does


def test_the_verdict_after_a_chain_of_fresh_associations() -> None:
    chained = verdict(plan(random_first=True), echo_aborted, query_aborted, worklist_items(4))
    assert chained.exposure is Exposure.QUERY
    assert chained.matches is not None
    assert (chained.matches.count, chained.matches.level) == (4, "WORKLIST")
    by_id = {f.id: f for f in chained.findings}
    assert "aborted" in by_id["dicom-query-refused"].evidence
    assert "the C-ECHO had ended the first" in by_id["dicom-worklist-matches"].evidence


def test_a_fresh_association_that_shows_nothing_leaves_the_verdict_as_it_was() -> None:
    alone = verdict(plan(random_first=True), echo_aborted, aborted)
    assert alone.exposure is Exposure.PROTECTED  # no storage accepted, no echo answered
    assert alone.matches is None
    ids = {f.id for f in alone.findings}
    assert "dicom-echo-unauthenticated" not in ids
    assert "dicom-worklist-offered" in ids

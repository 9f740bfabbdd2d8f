"""The scan's record of A-ASSOCIATE-AC answers (exposcan/probes/dimse_alike.py) and the
weak cross-endpoint sign it feeds (exposcan/decoys.py), without sockets."""

from __future__ import annotations

from dataclasses import replace

from exposcan.classify import classify_dimse
from exposcan.decoys import (
    SIGN_ANY_ABSTRACT_SYNTAX,
    SIGN_SAME_ACCEPT,
    SIGN_UNASKED_ATTRIBUTES,
    honeypot_signs,
)
from exposcan.probes.dimse_alike import ALIKE_OTHERS, AlikeAccepts
from tests.unit.test_decoys import accepted, attempt, observation, real_archive, study_find

HONEYPOT = "dicom-suspected-honeypot"


def opened(called: str = "RANDOMTITLE00001", **kw: object) -> tuple:  # type: ignore[type-arg]
    return (attempt("random", called, accepted=accepted(**kw), echo_status=0),)  # type: ignore[arg-type]


def test_hosts_that_answered_alike_before_are_counted_once_each() -> None:
    ledger = AlikeAccepts()
    assert ledger.note("10.0.0.1", opened()) == 0
    assert ledger.note("10.0.0.1", opened()) == 0  # another port of the same host
    assert ledger.note("10.0.0.2", opened()) == 1
    assert ledger.note("10.0.0.3", opened()) == 2
    assert ledger.note("10.0.0.4", opened()) == 3
    assert ledger.note("10.0.0.5", opened()) == ALIKE_OTHERS + 1  # kept hosts are few
    assert ledger.note("10.0.0.1", opened()) == ALIKE_OTHERS  # an early host, seen again


def test_the_echoed_titles_are_not_compared_and_any_other_field_is() -> None:
    ledger = AlikeAccepts()
    ledger.note("10.0.0.1", opened("RANDOMTITLE00001"))
    assert ledger.note("10.0.0.2", opened("ORTHANC")) == 1  # a stock title echoed instead
    assert ledger.note("10.0.0.3", opened(uid="1.2.3.4")) == 0  # another identity
    assert ledger.note("10.0.0.4", opened(decoy_accepted=True)) == 0  # another result
    refused = (attempt("random", "RANDOMTITLE00001"),)
    assert ledger.note("10.0.0.5", refused) == 0  # nothing accepted: nothing to compare


def test_the_record_is_bounded() -> None:
    ledger = AlikeAccepts(kept=1)
    ledger.note("10.0.0.1", opened(uid="1.2.3.4"))
    assert ledger.note("10.0.0.2", opened()) == 0
    assert ledger.note("10.0.0.3", opened()) == 0  # a second answer is never recorded
    assert ledger.note("10.0.0.3", opened(uid="1.2.3.4")) == 1


def test_the_same_answer_on_many_hosts_is_weak() -> None:
    # Alone: no suspicion, however many hosts; below ALIKE_OTHERS: not even a sign.
    real = real_archive()
    assert not honeypot_signs(real.attempts, alike_hosts=50)
    verdict = classify_dimse(replace(real, alike_hosts=50))
    assert HONEYPOT not in {f.id for f in verdict.findings}
    # Beside one weak sign it makes two; beside a strong one it is listed with it.
    open_any = observation(
        attempt(accepted=accepted(decoy_accepted=True), echo_status=0, find=study_find())
    )
    assert not honeypot_signs(open_any.attempts, alike_hosts=ALIKE_OTHERS - 1)
    signs = honeypot_signs(open_any.attempts, alike_hosts=ALIKE_OTHERS)
    assert [sign for sign, _ in signs] == [SIGN_ANY_ABSTRACT_SYNTAX, SIGN_SAME_ACCEPT]
    canned = observation(attempt(accepted=accepted(), echo_status=0, find=study_find(most=40)))
    signs = honeypot_signs(canned.attempts, alike_hosts=ALIKE_OTHERS)
    assert [sign for sign, _ in signs] == [SIGN_UNASKED_ATTRIBUTES, SIGN_SAME_ACCEPT]
    verdict = classify_dimse(replace(open_any, alike_hosts=ALIKE_OTHERS))
    (finding,) = [f for f in verdict.findings if f.id == HONEYPOT]
    assert f"{SIGN_SAME_ACCEPT}:" in finding.evidence
    assert verdict.detail is not None
    assert SIGN_SAME_ACCEPT in verdict.detail

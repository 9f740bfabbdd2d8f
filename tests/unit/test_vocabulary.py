"""The closed vocabularies: levels ordered by rank among themselves, never against a str."""

from __future__ import annotations

import json
import operator
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exposcan.fingerprints import CONFIDENCE_HIGH, CONFIDENCE_LOW, CONFIDENCE_MEDIUM
from exposcan.vocabulary import AttemptPurpose, Confidence, Exposure, FindEnd, Severity

LEVELS = (Severity, Exposure)
ORDERINGS = (operator.lt, operator.le, operator.gt, operator.ge)


def test_severity_is_ordered_by_rank_not_alphabet():
    # Alphabetically "high" < "medium" and "critical" < "info": the str order was wrong.
    assert Severity.HIGH >= Severity.MEDIUM
    assert Severity.CRITICAL > Severity.INFO
    assert not Severity.LOW > Severity.MEDIUM
    assert sorted([Severity.HIGH, Severity.NONE, Severity.CRITICAL, Severity.MEDIUM]) == [
        Severity.NONE,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.CRITICAL,
    ]
    assert max(Severity) is Severity.CRITICAL
    assert min(Severity) is Severity.NONE


def test_exposure_is_ordered_by_rank_not_alphabet():
    # Alphabetically "echo" < "none" < "protected" < "query" < "store".
    assert sorted(Exposure, reverse=True) == [
        Exposure.QUERY,
        Exposure.STORE,
        Exposure.ECHO,
        Exposure.PROTECTED,
        Exposure.NONE,
    ]
    assert Exposure.QUERY > Exposure.STORE
    assert Exposure.ECHO > Exposure.NONE


@given(st.sampled_from(LEVELS).flatmap(lambda e: st.tuples(st.sampled_from(e), st.sampled_from(e))))
def test_order_is_total_and_follows_rank(pair):
    a, b = pair
    assert (a < b) == (a.rank < b.rank)
    assert (a <= b) == (a.rank <= b.rank)
    assert (a > b) == (a.rank > b.rank)
    assert (a >= b) == (a.rank >= b.rank)
    assert (a < b) + (a == b) + (a > b) == 1


@pytest.mark.parametrize("level", [*Severity, *Exposure])
@pytest.mark.parametrize("compare", ORDERINGS)
def test_comparing_with_a_plain_str_raises(level, compare):
    """``Exposure.STORE >= "query"`` was True: str's ordering answered for the enum."""
    with pytest.raises(TypeError):
        compare(level, str(level))
    with pytest.raises(TypeError):
        compare(str(level), level)
    with pytest.raises(TypeError):
        compare(level, "query")


@pytest.mark.parametrize("compare", ORDERINGS)
def test_severity_and_exposure_do_not_compare(compare):
    with pytest.raises(TypeError):
        compare(Severity.HIGH, Exposure.ECHO)
    with pytest.raises(TypeError):
        compare(Exposure.ECHO, Severity.HIGH)


def test_levels_still_equal_and_serialise_as_their_str():
    """Equality with the value stays: reports read back compare ``r["exposure"] == "echo"``."""
    assert Exposure.ECHO == "echo"
    assert hash(Severity.HIGH) == hash("high")
    assert json.dumps({"s": Severity.HIGH, "e": Exposure.QUERY}) == '{"s": "high", "e": "query"}'
    assert pickle.loads(pickle.dumps(Exposure.STORE)) is Exposure.STORE
    assert Exposure("store") is Exposure.STORE
    assert Exposure.QUERY.severity is Severity.CRITICAL


def test_closed_vocabularies_hold_the_values_reports_carry():
    assert {p.value for p in AttemptPurpose} == {
        "first",
        "random",
        "stock",
        "user",
        "storage",
        "whole-map",
        "plaintext",
        "worklist",
        "query",
    }
    assert {o.value for o in FindEnd} == {
        "matches",
        "empty",
        "refused",
        "aborted",
        "closed",
        "timeout",
        "ignored-cancel",
    }
    assert tuple(Confidence) == (CONFIDENCE_HIGH, CONFIDENCE_MEDIUM, CONFIDENCE_LOW)
    assert all(isinstance(c, Confidence) for c in (CONFIDENCE_HIGH, CONFIDENCE_LOW))
    with pytest.raises(ValueError, match="not a valid FindEnd"):
        FindEnd("found")

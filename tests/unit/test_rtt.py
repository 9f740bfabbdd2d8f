"""The adaptive connect timeout and the silent-host ledger, from given samples (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from exposcan.options import Limits, ScanOptions
from exposcan.reach import Reachability
from exposcan.rtt import FLOOR_S, INITIAL_S, Estimate, RttTable, network_of

CEILING = 3.0


def test_no_answer_yet_waits_the_initial_timeout_never_past_the_ceiling():
    table = RttTable()
    assert table.timeout("10.1.2.3", CEILING) == INITIAL_S == 1.0
    assert table.timeout("10.1.2.3", 0.2) == 0.2  # the user's connect timeout wins


def test_fast_answers_never_take_the_timeout_below_the_floor():
    table = RttTable()
    for _ in range(200):
        table.answered("10.1.2.3", 0.00005)  # loopback: 50 microseconds
    assert table.estimate("10.1.2.3").srtt < 0.001
    assert table.timeout("10.1.2.3", CEILING) == FLOOR_S == 0.5
    # A neighbour of the same /24 that never answered gets the network's estimate: the floor.
    assert table.timeout("10.1.2.200", CEILING) == FLOOR_S
    # Another network has no estimate of its own.
    assert table.timeout("10.1.3.1", CEILING) == INITIAL_S


def test_a_slow_far_peer_keeps_a_long_timeout_because_its_answers_say_so():
    table = RttTable()
    for rtt in (0.8, 1.3, 0.9, 1.4, 1.1, 1.2):
        table.answered("192.0.2.7", rtt)
    timeout = table.timeout("192.0.2.7", 10.0)
    estimate = table.estimate("192.0.2.7")
    assert timeout == pytest.approx(estimate.srtt + 4 * estimate.rttvar)
    assert timeout > 1.5  # longer than any sample, longer than the initial timeout
    assert table.timeout("192.0.2.7", CEILING) <= CEILING
    # The estimate follows the peer when it slows down further.
    before = table.timeout("192.0.2.7", 10.0)
    for _ in range(10):
        table.answered("192.0.2.7", 2.5)
    assert table.timeout("192.0.2.7", 10.0) > before


def test_the_ceiling_holds_for_any_sample():
    table = RttTable()
    table.answered("10.0.0.1", 50.0)
    assert table.timeout("10.0.0.1", CEILING) == CEILING


def test_the_host_estimate_is_preferred_to_its_networks():
    table = RttTable()
    for _ in range(20):
        table.answered("10.9.9.1", 0.001)
    table.answered("10.9.9.2", 2.0)  # one slow host in a fast network
    assert table.timeout("10.9.9.2", CEILING) == CEILING  # 2 + 4 * 1
    assert table.timeout("10.9.9.1", CEILING) == FLOOR_S


def test_rfc6298_arithmetic():
    estimate = Estimate.first(0.4)
    assert (estimate.srtt, estimate.rttvar) == (0.4, 0.2)
    estimate.add(0.8)
    assert estimate.rttvar == pytest.approx(0.75 * 0.2 + 0.25 * 0.4)
    assert estimate.srtt == pytest.approx(0.875 * 0.4 + 0.125 * 0.8)
    assert estimate.samples == 2


def test_networks_are_24s_and_64s():
    assert network_of("10.20.30.40") == "10.20.30.0/24"
    assert network_of("2001:db8:1:2:3::9") == "2001:db8:1:2::/64"


def test_the_table_is_bounded_and_forgets_towards_the_initial_timeout():
    table = RttTable(kept=4)
    for i in range(10):
        table.answered(f"10.0.{i}.1", 0.0001)
    assert table.timeout("10.0.0.1", CEILING) == INITIAL_S  # forgotten: waited longer
    assert table.timeout("10.0.9.1", CEILING) == FLOOR_S
    with pytest.raises(ValueError, match="floor"):
        RttTable(floor=2.0, initial=1.0)


def test_a_host_that_answered_anything_is_never_written_off():
    reach = Reachability(2)
    reach.silent("10.0.0.1")
    reach.answered("10.0.0.1")  # one RST
    for _ in range(10):
        reach.silent("10.0.0.1")
    assert not reach.written_off("10.0.0.1")
    assert reach.has_answered("10.0.0.1")


def test_a_host_silent_on_its_first_endpoints_is_written_off():
    reach = Reachability(2)
    reach.silent("10.0.0.2")
    assert not reach.written_off("10.0.0.2")
    reach.silent("10.0.0.2")
    assert reach.written_off("10.0.0.2")
    assert not reach.written_off("10.0.0.3")  # never tried
    off = Reachability(0)  # the rule turned off
    for _ in range(5):
        off.silent("10.0.0.2")
    assert not off.written_off("10.0.0.2")


def test_the_ledger_forgets_silence_only_towards_probing_again():
    reach = Reachability(1, kept=2)
    reach.answered("10.0.0.9")
    for i in range(5):
        reach.silent(f"10.0.1.{i}")
    assert not reach.written_off("10.0.1.0")  # forgotten: probed again
    assert reach.written_off("10.0.1.4")
    reach.silent("10.0.0.9")
    assert not reach.written_off("10.0.0.9")  # answers are never forgotten


def test_limits_know_which_values_the_user_chose():
    defaults = Limits()
    assert (defaults.rate, defaults.concurrency) == (20, 32)
    assert not defaults.rate_explicit
    assert not defaults.concurrency_explicit
    assert Limits(rate=20).rate_explicit  # the default's value, but chosen
    assert Limits(concurrency=32).concurrency_explicit
    # A copy keeps the distinction; the report header keeps its fields and types.
    assert not dataclasses.replace(defaults, per_host_rate=1).rate_explicit
    header = ScanOptions().to_dict()
    assert header["limits"] == {
        "concurrency": 32,
        "rate": 20.0,
        "per_host_rate": 2.0,
        "per_host_concurrency": 1,
        "first_contact_rate": 400.0,
        "first_contact_concurrency": 512,
        "chosen": [],
    }
    assert Limits(rate=20).chosen() == ("rate",)
    assert header["silent_after"] == 2

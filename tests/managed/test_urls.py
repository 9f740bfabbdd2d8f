"""Broker URLs: what is accepted, and the one form every message shows (no password)."""

from __future__ import annotations

import pytest

from exposcan.errors import OptionError
from exposcan.managed.broker import BrokerError, check_url, redact
from exposcan.managed.schedules import check_name, parse_every


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
        ("redis://user:s3cret@host:6379/1?x=1", "redis://user:***@host:6379/1"),
        ("rediss://user@host/0", "rediss://user@host/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://:p@ss@word@host/0", "redis://:***@host/0"),
    ],
)
def test_redact(url, shown):
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("amqp://host/", "scheme must be one of"),
        ("redis:///0", "names no host"),
        ("redis://:s3cret@host:99999999/0", "does not parse"),
        ("host:6379", "scheme must be one of"),
    ],
)
def test_bad_urls_are_one_line_without_the_password(url, message):
    with pytest.raises(BrokerError, match=message) as caught:
        check_url(url)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_schemes():
    assert check_url("memory://") == "memory"
    assert check_url("redis://127.0.0.1:6379/0") == "redis"


def test_durations_and_names():
    assert parse_every("90s") == 90
    assert parse_every("1h30m") == 5400
    assert parse_every("1d") == 86400
    for bad in ("", "1x", "m", "0s", "1.5h"):
        with pytest.raises(OptionError, match="--every"):
            parse_every(bad)
    assert check_name("site-a.weekly_1") == "site-a.weekly_1"
    for bad in ("", "-a", "a b", "x" * 65, "../etc"):
        with pytest.raises(OptionError, match="schedule name"):
            check_name(bad)

"""A warning from 14 days before the authorisation expires (issue 12, item 11): the
function the CLI prints, and the library's structlog event, on an injected clock."""

from __future__ import annotations

import datetime

import pytest
import structlog

import exposcan
import exposcan.engine
from exposcan.probe import Endpoint
from exposcan.probing import Probed
from exposcan.scan import prepare
from exposcan.scope import parse_scope
from exposcan.scope.authorisation import EXPIRY_WARNING_DAYS, Authorisation, expiry_warning
from tests.support.scope_toml import scope_text
from tests.support.target_files import closed

UTC = datetime.UTC
ON_DATE = Authorisation(owner="o", reference="CHG-7", expires=datetime.date(2026, 12, 7))
AT_INSTANT = Authorisation(
    owner="o",
    reference="CHG-8",
    expires=datetime.datetime(
        2026, 12, 7, 18, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    ),
)


def at(*parts: int) -> datetime.datetime:
    return datetime.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_the_cli_line() -> None:
    assert expiry_warning(ON_DATE, at(2026, 12, 2, 15, 0)) == (
        "authorisation CHG-7 expires in 5 days (2026-12-07T23:59:59+00:00): "
        "renew it before the next scheduled scan"
    )
    assert expiry_warning(AT_INSTANT, at(2026, 12, 7, 7, 30)) == (
        "authorisation CHG-8 expires in 9 hours (2026-12-07T18:00:00+01:00): "
        "renew it before the next scheduled scan"
    )


@pytest.mark.parametrize(
    ("now", "words"),
    [
        (at(2026, 11, 23, 23, 59, 59, 999999), "in 14 days"),  # exactly 14 days before
        (at(2026, 11, 24, 0, 0), "in 13 days"),
        (at(2026, 12, 6, 0, 0), "in 1 day"),
        (at(2026, 12, 7, 22, 0), "in 1 hour"),
        (at(2026, 12, 7, 23, 30), "within the hour"),
        (at(2026, 12, 7, 23, 59, 59), "within the hour"),
    ],
)
def test_within_fourteen_days(now: datetime.datetime, words: str) -> None:
    assert EXPIRY_WARNING_DAYS == 14
    assert ON_DATE.expires_within(now, 14)
    warning = expiry_warning(ON_DATE, now)
    assert warning is not None
    assert f"expires {words} (" in warning


@pytest.mark.parametrize(
    "now",
    [
        at(2026, 11, 23, 23, 59, 58),  # a second more than 14 days before
        at(2026, 1, 1),
        at(2026, 12, 8, 0, 0),  # expired: refused elsewhere, not warned about
    ],
)
def test_not_warned(now: datetime.datetime) -> None:
    assert not ON_DATE.expires_within(now, 14)
    assert expiry_warning(ON_DATE, now) is None


def test_days_is_a_parameter_and_now_must_be_aware() -> None:
    now = at(2026, 12, 2)
    assert expiry_warning(ON_DATE, now, days=5) is None
    assert expiry_warning(ON_DATE, now, days=6) is not None
    with pytest.raises(TypeError):
        ON_DATE.expires_within(datetime.datetime(2026, 12, 2), 14)


async def test_scan_logs_a_warning_prepare_only_says_it(monkeypatch: pytest.MonkeyPatch) -> None:
    async def probe(endpoint: Endpoint, *_: object, **__: object) -> Probed:
        return closed(endpoint)

    monkeypatch.setattr(exposcan.engine, "probe_endpoint", probe)  # no socket
    scope = parse_scope(scope_text(["127.0.0.1"], ports=[104], expires="2026-12-07"), source="s")
    soon = lambda: at(2026, 12, 2, 15, 0)  # noqa: E731
    with structlog.testing.capture_logs() as logs:
        plan = await prepare(scope, clock=soon)
    assert plan.expiry_warning() == expiry_warning(ON_DATE, soon()).replace(
        "CHG-7", "CHG-2026-0042"
    )
    # prepare() says nothing: a caller that shows the line itself (the CLI) shows it once
    assert not [e for e in logs if e["event"] == "authorisation_expires_soon"]
    with structlog.testing.capture_logs() as logs:
        report = await exposcan.scan(scope, clock=soon)
    assert len(report.results) == 1
    events = [e for e in logs if e["event"] == "authorisation_expires_soon"]
    assert len(events) == 1
    assert events[0]["log_level"] == "warning"
    assert events[0]["reference"] == "CHG-2026-0042"
    assert events[0]["message"] == plan.expiry_warning()
    with structlog.testing.capture_logs() as logs:
        results = [r async for r in exposcan.scan_iter(scope, clock=lambda: at(2026, 11, 1))]
    assert len(results) == 1
    assert not [e for e in logs if e["event"] == "authorisation_expires_soon"]
    with structlog.testing.capture_logs() as logs:
        [r async for r in exposcan.scan_iter(scope, clock=soon)]
    assert [e["event"] for e in logs].count("authorisation_expires_soon") == 1

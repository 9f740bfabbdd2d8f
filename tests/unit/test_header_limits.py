"""The scan's pacing in its report header (issue 13): the first-contact limits, which
limits the user chose, adaptive timeouts and the silent-host rule are written, validate
against the schema, and read back (``ScanOptions.from_dict``, ``read_report``,
``--resume``); a header written before them still validates and still reads."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import exposcan
from exposcan.errors import OptionError
from exposcan.managed.wire import options_from_wire, options_to_wire
from exposcan.options import Default, DefaultCount, Limits, ScanOptions, Timeouts
from exposcan.report.resume import load_resume
from exposcan.schema import load_schema
from exposcan.scope import parse_scope
from tests.support.scope_toml import scope_text

VALIDATOR = jsonschema.Draft202012Validator(load_schema())
SCOPE = scope_text(["10.0.0.0/24"], ports=[104, 4242], web_ports=[8042])
#: What a header of exposcan before issue 13's pacing lacked.
ADDED = ("adaptive_timeouts", "silent_after")
ADDED_LIMITS = ("first_contact_rate", "first_contact_concurrency", "chosen")


def header(options: ScanOptions) -> dict[str, Any]:
    """The header a real plan writes, as its report line holds it (JSON)."""
    plan = asyncio.run(exposcan.prepare(parse_scope(SCOPE, source="s.toml"), options=options))
    return json.loads(json.dumps(plan.header()))  # type: ignore[no-any-return]


def old_style(record: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(record)
    for name in ADDED:
        del old["options"][name]
    for name in ADDED_LIMITS:
        del old["options"]["limits"][name]
    return old


def errors(record: dict[str, Any]) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(record)]


CHOSEN = ScanOptions(
    limits=Limits(rate=7, first_contact_rate=90, first_contact_concurrency=64, per_host_rate=1),
    timeouts=Timeouts(connect=2),
    adaptive_timeouts=False,
    silent_after=5,
)


def test_the_header_says_which_pacing_the_scan_ran_with() -> None:
    options = header(CHOSEN)["options"]
    assert options["adaptive_timeouts"] is False
    assert options["silent_after"] == 5
    assert options["limits"] == {
        "concurrency": 32,
        "rate": 7,
        "per_host_rate": 1,
        "per_host_concurrency": 1,
        "first_contact_rate": 90,
        "first_contact_concurrency": 64,
        "chosen": ["rate", "first_contact_rate"],
    }
    defaults = header(ScanOptions())["options"]
    assert defaults["limits"]["chosen"] == []
    assert defaults["limits"]["first_contact_rate"] == 400
    assert (defaults["adaptive_timeouts"], defaults["silent_after"]) == (True, 2)


@pytest.mark.parametrize(
    "options",
    [
        ScanOptions(),
        CHOSEN,
        ScanOptions(limits=Limits(concurrency=8), ports=(104, 4242), tls_ports=()),
        ScanOptions(limits=Limits(rate=Default(20.0), concurrency=DefaultCount(32))),
    ],
    ids=["defaults", "chosen", "concurrency-chosen", "defaults-spelt"],
)
def test_the_header_round_trips(options: ScanOptions) -> None:
    """Every option back as it ran, the user's choices told from the defaults (the AE
    titles themselves are never written: their count only)."""
    back = ScanOptions.from_dict(header(options)["options"])
    assert back == options
    explicit = ("rate_explicit", "concurrency_explicit", "first_contact_rate_explicit")
    assert [getattr(back.limits, n) for n in explicit] == [
        getattr(options.limits, n) for n in explicit
    ]
    assert back.limits.chosen() == options.limits.chosen()


def test_the_ae_titles_are_counted_not_read_back() -> None:
    options = ScanOptions(ae_titles=("PACS", "ARCHIVE"))
    written = header(options)["options"]
    assert written["ae_titles"] == 2
    assert ScanOptions.from_dict(written).ae_titles == ()


def test_fresh_and_old_style_headers_validate_and_a_wrong_value_does_not() -> None:
    fresh = header(CHOSEN)
    assert errors(fresh) == []
    old = old_style(fresh)
    assert errors(old) == []  # optional: a report written before them still validates
    for broken in (
        {"chosen": ["per_host_rate"]},
        {"chosen": ["rate", "rate"]},
        {"first_contact_rate": "fast"},
        {"first_contact_concurrency": -1},
        {"first_contact_burst": 3},
    ):
        record = copy.deepcopy(fresh)
        record["options"]["limits"].update(broken)
        assert errors(record), broken
    for name, value in (("silent_after", -1), ("adaptive_timeouts", "yes")):
        record = copy.deepcopy(fresh)
        record["options"][name] = value
        assert errors(record), name


def test_an_old_style_header_reads_back_with_defaults() -> None:
    """Without ``chosen`` the limits it holds are read as given, those it lacks as
    defaults; the options it lacks as defaults."""
    old = old_style(header(ScanOptions(limits=Limits(rate=7))))["options"]
    back = ScanOptions.from_dict(old)
    assert (back.adaptive_timeouts, back.silent_after) == (True, 2)
    assert back.limits.rate == 7
    assert back.limits.rate_explicit  # as the file says, with nothing to say otherwise
    assert back.limits.first_contact_rate == 400
    assert not back.limits.first_contact_rate_explicit


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"chosen": ["speed"]}, ValueError),
        ({"chosen": "rate"}, ValueError),
        ({"rate": "20"}, TypeError),
        ({"concurrency": 2.5}, TypeError),
        ({"per_host_concurrency": True}, TypeError),
        ({"first_contact_rate": 0}, OptionError),
    ],
)
def test_a_malformed_header_limit_is_refused(change: dict[str, Any], error: type) -> None:
    limits = header(ScanOptions())["options"]["limits"]
    with pytest.raises(error):
        Limits.from_dict({**limits, **change})


def test_read_report_and_resume_take_old_and_new_headers(tmp_path: Path) -> None:
    fresh = header(CHOSEN)
    for name, record in (("new", fresh), ("old", old_style(fresh))):
        path = tmp_path / f"{name}.jsonl"
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        report = exposcan.read_report(path)
        back = ScanOptions.from_dict(report.header["options"])
        assert back.timeouts.connect == 2
        if name == "new":
            assert back == CHOSEN
        else:
            assert "first_contact_rate" not in report.header["options"]["limits"]
        # --resume with today's header (pacing may differ between runs: rates do).
        state = load_resume(path, header(ScanOptions(limits=Limits(rate=7), silent_after=0)))
        assert state.header["options"] == record["options"]


def test_the_managed_wire_form_keeps_which_limits_were_chosen() -> None:
    """A worker must know which limits the user set: a default rate read back as chosen
    would take the place of the first-contact budget on every worker."""
    wired = json.loads(json.dumps(options_to_wire(CHOSEN)))
    assert options_from_wire(wired) == CHOSEN
    default = options_from_wire(json.loads(json.dumps(options_to_wire(ScanOptions()))))
    assert not default.limits.rate_explicit
    assert not default.limits.concurrency_explicit
    assert options_from_wire(wired).limits.chosen() == CHOSEN.limits.chosen()

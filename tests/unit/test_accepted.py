"""The accepted-risk file: what it parses to, what it refuses (one line naming file,
entry and line), and which findings an entry marks, in results and whole reports."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from exposcan import findings
from exposcan.accepted import (
    MAX_ACCEPTED_FILE_BYTES,
    AcceptedRiskError,
    AcceptedRisks,
    lapsed,
    load_accepted,
    parse_accepted,
)
from exposcan.errors import UserError
from exposcan.gating import failing
from exposcan.results import AcceptedRisk, EndpointResult
from exposcan.summary import ScanReport, SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

ECHO = findings.DICOM_ECHO_UNAUTHENTICATED
QUERY = findings.DICOM_QUERY_MATCHES
NOW = datetime.datetime(2027, 1, 15, 12, 0, tzinfo=datetime.UTC)


def endpoint(host: str, port: int, *rules: findings.Rule) -> EndpointResult:
    return EndpointResult(
        host=host,
        port=port,
        protocol=Protocol.DIMSE,
        status=Status.SUCCESS,
        exposure=Exposure.ECHO,
        findings=tuple(rule.found(f"synthetic evidence {i}") for i, rule in enumerate(rules)),
    )


def entry(**keys: object) -> str:
    values = {
        "finding": '"dicom-echo-unauthenticated"',
        "reason": '"bridge behind a firewall, CHG-1234"',
        "expires": "2027-03-31",
    }
    values.update({k: str(v) for k, v in keys.items()})
    body = "".join(f"{k} = {v}\n" for k, v in values.items() if v != "OMIT")
    return f"[[accept]]\n{body}"


# --- what a good file holds -------------------------------------------------------


def test_a_full_entry_parses_to_its_values() -> None:
    risks = parse_accepted(entry(host='"10.20.0.0/24"', port=104), source="risk.toml")
    (only,) = risks.entries
    assert only.finding == ECHO.id
    assert only.host == "10.20.0.0/24"
    assert only.port == 104
    assert only.reason == "bridge behind a firewall, CHG-1234"
    assert only.expires == datetime.date(2027, 3, 31)
    assert (only.number, only.line) == (1, 1)
    assert risks.source == "risk.toml"


def test_an_empty_file_accepts_nothing() -> None:
    risks = parse_accepted("# nothing accepted yet\n")
    results = (endpoint("10.0.0.1", 104, ECHO),)
    assert risks.entries == ()
    assert risks.apply(results) == results


def test_reason_whitespace_is_folded_to_one_line() -> None:
    risks = parse_accepted(entry(reason='"""\nfirst line\n   second line\n"""'))
    assert risks.entries[0].reason == "first line second line"


# --- what it refuses, in one line -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (entry(finding='"dicom-echo-unauthenticate"'), "did you mean 'dicom-echo-unauthenticated'"),
        (entry(finding='"no-such-thing-at-all"'), "is no finding id of exposcan"),
        (entry(finding="3"), "finding must be a finding id (a string), not an integer"),
        (entry(host='"pacs.example.org"'), "is a name; write the address or CIDR"),
        (entry(host='"10.20.0.5/16"'), "has host bits set"),
        (entry(host='"0.0.0.0/0"'), "every address"),
        (entry(host="[1]"), "host must be an address or CIDR (a string), not a list"),
        (entry(port=0), "port 0 is no port number"),
        (entry(port=70000), "port 70000 is no port number"),
        (entry(port="true"), "port must be a port number, not a boolean"),
        (entry(port='"104"'), "port must be a port number, not a string"),
        (entry(expires="OMIT"), "no expires: every acceptance ends"),
        (entry(expires='"2027-03-31"'), "expires must be a date without quotes"),
        (entry(expires="2027-03-31T10:00:00Z"), "not a date-time"),
        (entry(expires="12"), "expires must be a date (expires = 2027-03-31), not an integer"),
        (entry(reason="OMIT"), "no reason: say why"),
        (entry(reason='"   "'), "reason is empty"),
        (entry(reason='"a\\u0007b"'), "reason must be printable text"),
        (entry(reason=f'"{"x" * 600}"'), "at most 512 characters"),
        (entry(finding="OMIT"), "no finding: name the finding id"),
        (entry(hots='"10.0.0.1"'), "unknown key 'hots' (expected: finding, host, port"),
        (entry(hots='"10.0.0.1"'), "did you mean 'host'?"),
        ("[accept]\nfinding = 'x'\n", "must be [[accept]] tables, not a table"),
        ("accept = [1]\n", "entry 1: must be an [[accept]] table, not an integer"),
        ("acept = []\n", "unknown key 'acept'"),
        ("[[accept]\n", "is not valid TOML"),
        ("x = " + "[" * 2000 + "]" * 2000, "nested too deeply"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_why(text: str, expected: str) -> None:
    with pytest.raises(AcceptedRiskError) as caught:
        parse_accepted(text, source="risk.toml")
    message = str(caught.value)
    assert expected in message
    assert "risk.toml" in message
    assert "\n" not in message
    assert "Traceback" not in message
    assert isinstance(caught.value, UserError)  # the CLI: one line, exit 2


def test_the_message_names_the_entry_and_its_line() -> None:
    text = "# risks\n\n" + entry() + "\n" + entry(port=104) + "\n" + entry(port=-1)
    with pytest.raises(AcceptedRiskError, match=r"risk\.toml entry 3 \(line 14\): port -1"):
        parse_accepted(text, source="risk.toml")
    assert text.splitlines()[13] == "[[accept]]"


def test_inline_tables_are_named_by_entry_when_lines_cannot_be_told() -> None:
    good = '{finding = "dicom-echo-unauthenticated", reason = "r", expires = 2027-01-01}'
    text = f'accept = [{good}, {{finding = "x", reason = "r", expires = 2027-01-01}}]\n'
    with pytest.raises(AcceptedRiskError, match=r"risk\.toml entry 2: finding 'x'"):
        parse_accepted(text, source="risk.toml")


def test_load_refuses_what_is_not_a_readable_small_utf8_file(tmp_path: Path) -> None:
    with pytest.raises(AcceptedRiskError, match=r"cannot read accepted-risk file .*missing"):
        load_accepted(tmp_path / "missing.toml")
    with pytest.raises(AcceptedRiskError, match="Is a directory"):
        load_accepted(tmp_path)
    big = tmp_path / "big.toml"
    big.write_text("#" * (MAX_ACCEPTED_FILE_BYTES + 1))
    with pytest.raises(AcceptedRiskError, match="larger than"):
        load_accepted(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"# caf\xe9\n")
    with pytest.raises(AcceptedRiskError, match="not UTF-8 text"):
        load_accepted(latin)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(AcceptedRiskError, match="FIFO"):  # never blocks on open
        load_accepted(fifo)
    good = tmp_path / "good.toml"
    good.write_text(entry())
    assert load_accepted(good).entries[0].finding == ECHO.id


def test_too_many_entries_are_refused() -> None:
    from exposcan.accepted import MAX_ACCEPTED_ENTRIES

    text = "accept = [" + ", ".join(["{}"] * (MAX_ACCEPTED_ENTRIES + 1)) + "]"
    with pytest.raises(AcceptedRiskError, match="at most"):
        parse_accepted(text)


# --- which findings an entry marks -------------------------------------------------


def test_an_entry_marks_only_what_it_names() -> None:
    risks = parse_accepted(entry(host='"10.20.0.0/24"', port=104))
    results = (
        endpoint("10.20.0.5", 104, ECHO, QUERY),  # echo covered; query another id
        endpoint("10.20.0.5", 11112, ECHO),  # another port
        endpoint("10.20.1.5", 104, ECHO),  # outside the network
        endpoint("fd00::5", 104, ECHO),  # another family
    )
    marked = risks.apply(results, NOW)
    expected = AcceptedRisk(reason="bridge behind a firewall, CHG-1234", expires="2027-03-31")
    assert marked[0].findings[0].accepted == expected
    assert marked[0].findings[1].accepted is None
    assert [f.accepted for r in marked[1:] for f in r.findings] == [None, None, None]
    # everything else about the results is as it was
    assert [r.endpoint for r in marked] == [r.endpoint for r in results]
    assert marked[1:] == results[1:]


def test_an_entry_without_host_or_port_covers_every_endpoint() -> None:
    risks = parse_accepted(entry())
    results = (endpoint("10.0.0.1", 104, ECHO), endpoint("::1", 4242, ECHO))
    assert all(f.accepted is not None for r in risks.apply(results) for f in r.findings)


def test_ipv6_networks_and_addresses_match() -> None:
    risks = parse_accepted(entry(host='"fd00:0:0:0::/64"'))
    assert risks.entries[0].host == "fd00::/64"
    marked = risks.apply((endpoint("fd00::9", 104, ECHO), endpoint("fd01::9", 104, ECHO)))
    assert [r.findings[0].accepted is not None for r in marked] == [True, False]


def test_accepted_findings_leave_the_gate_until_they_lapse() -> None:
    risks = parse_accepted(entry(expires="2027-01-31"))
    marked = risks.apply((endpoint("10.0.0.1", 104, ECHO),))
    assert failing(marked, Severity.MEDIUM, now=NOW) == []
    end_of_day = datetime.datetime(2027, 1, 31, 23, 59, 59, tzinfo=datetime.UTC)
    assert failing(marked, Severity.MEDIUM, now=end_of_day) == []
    after = datetime.datetime(2027, 2, 1, 0, 0, 0, 1, tzinfo=datetime.UTC)
    assert len(failing(marked, Severity.MEDIUM, now=after)) == 1
    # the lapsed acceptance still marks the finding, and lapsed() names it
    assert marked[0].findings[0].accepted is not None
    assert lapsed(marked, now=after) == [(marked[0], marked[0].findings[0])]
    assert lapsed(marked, now=NOW) == []


def test_of_several_entries_one_that_holds_decides() -> None:
    text = (
        entry(expires="2026-01-01", reason='"old"')
        + entry(expires="2027-06-30", reason='"current"', port=104)
        + entry(expires="2027-02-01", reason='"shorter"')
    )
    risks = parse_accepted(text)
    (result,) = risks.apply((endpoint("10.0.0.1", 104, ECHO),), NOW)
    assert result.findings[0].accepted == AcceptedRisk(reason="current", expires="2027-06-30")
    (other,) = risks.apply((endpoint("10.0.0.1", 4242, ECHO),), NOW)
    assert other.findings[0].accepted == AcceptedRisk(reason="shorter", expires="2027-02-01")
    # all lapsed: the latest expiry is still the one shown
    later = datetime.datetime(2028, 1, 1, tzinfo=datetime.UTC)
    (result,) = risks.apply((endpoint("10.0.0.1", 104, ECHO),), later)
    assert result.findings[0].accepted == AcceptedRisk(reason="current", expires="2027-06-30")


def test_the_file_given_now_replaces_an_earlier_acceptance() -> None:
    earlier = parse_accepted(entry()).apply((endpoint("10.0.0.1", 104, ECHO, QUERY),))
    assert earlier[0].findings[0].accepted is not None
    now = parse_accepted(entry(finding='"dicom-query-matches"')).apply(earlier)
    assert now[0].findings[0].accepted is None
    assert now[0].findings[1].accepted is not None
    assert AcceptedRisks().apply(now)[0].findings[1].accepted is None


def test_apply_report_marks_results_and_keeps_the_rest() -> None:
    results = (endpoint("10.0.0.1", 104, ECHO), endpoint("10.0.0.2", 104, QUERY))
    builder = SummaryBuilder(started_at="2027-01-15T12:00:00.000Z", total=2)
    for result in results:
        builder.add(result)
    summary = builder.build(
        finished_at="2027-01-15T12:00:01.000Z", duration_s=1.0, interrupted=False
    )
    report = ScanReport(header={"record": "scan", "scan_id": "x"}, results=results, summary=summary)
    marked = parse_accepted(entry()).apply_report(report, NOW)
    assert marked.header == report.header
    assert marked.summary == report.summary
    assert marked.results[0].findings[0].accepted is not None
    assert marked.results[1] == results[1]
    # the mark travels in the record every format is made from
    assert marked.results[0].to_dict()["findings"][0]["accepted"] == {
        "reason": "bridge behind a firewall, CHG-1234",
        "expires": "2027-03-31",
    }
    assert EndpointResult.from_dict(marked.results[0].to_dict()) == marked.results[0]


def test_unmatched_names_entries_that_cover_nothing() -> None:
    risks = parse_accepted(entry() + entry(finding='"dicom-query-matches"', host='"10.9.9.9"'))
    results = (endpoint("10.0.0.1", 104, ECHO, QUERY),)
    assert [e.number for e in risks.unmatched(results)] == [2]

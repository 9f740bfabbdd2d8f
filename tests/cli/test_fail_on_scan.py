"""``exposcan scan --fail-on SEVERITY``: exit 1 and one line when a finding at or above it is
in the report (earlier runs of a resumed scan included), 0 otherwise; a bad severity is a
one-line usage error before any packet."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

import exposcan
from exposcan.gating import GATE_SEVERITIES
from exposcan.lab import free_port
from exposcan.vocabulary import Severity
from tests.support.cli_child import FAST, run

#: Far enough that no "authorisation expires soon" warning joins stderr.
LATER = date.today() + timedelta(days=60)


def severities(path) -> list[Severity]:
    report = exposcan.read_report(path)
    return [f.severity for r in report.results for f in r.findings]


@pytest.fixture
def scanned(scp_factory, write_scope, tmp_path):
    """A scope of one open SCP and one closed port, scanned once without a gate."""
    scope = write_scope(["127.0.0.1"], [scp_factory("OPEN"), free_port()], expires=LATER)
    out = tmp_path / "first.jsonl"
    proc = run("scan", "--scope", str(scope), "-o", str(out), *FAST)
    assert proc.returncode == 0, proc.stderr
    found = severities(out)
    assert found, "an SCP that answers C-ECHO must yield a finding"
    return scope, found


def test_each_threshold_exits_as_the_findings_say(scanned, tmp_path):
    scope, found = scanned
    worst = max(found)
    outcomes = {}
    for word in GATE_SEVERITIES:
        threshold = Severity(word)
        out = tmp_path / f"gate-{word}.jsonl"
        proc = run("scan", "--scope", str(scope), "-o", str(out), "--fail-on", word.upper(), *FAST)
        counted = [s for s in severities(out) if s >= threshold]
        expected = 1 if counted else 0
        assert proc.returncode == expected, (word, proc.stderr)
        line = proc.stderr.strip().splitlines()[-1]
        noun = "finding" if len(counted) == 1 else "findings"
        assert line == f"exposcan: {len(counted)} {noun} at or above {word}", proc.stderr
        assert out.read_text(encoding="utf-8").count('"record":"summary"') == 1  # written
        outcomes[word] = proc.returncode
    assert outcomes["info"] == 1
    if worst < Severity.CRITICAL:  # a threshold above the worst finding passes
        assert outcomes["critical"] == 0


def test_quiet_keeps_only_the_gate_line(scanned, tmp_path):
    scope, found = scanned
    out = tmp_path / "quiet.jsonl"
    proc = run("scan", "--scope", str(scope), "-o", str(out), "--quiet", "--fail-on", "info", *FAST)
    assert proc.returncode == 1
    noun = "finding" if len(found) == 1 else "findings"
    assert proc.stderr.splitlines() == [f"exposcan: {len(found)} {noun} at or above info"]
    passing = run(
        "scan", "--scope", str(scope), "-o", str(out), "-q", "--fail-on", "critical", *FAST
    )
    if max(found) < Severity.CRITICAL:
        assert passing.returncode == 0
        assert passing.stderr == ""  # a pass says nothing with --quiet


def test_a_resumed_scan_is_gated_on_every_run(scp_factory, write_scope, tmp_path):
    """The second run probes nothing new (every endpoint is finished): the findings that
    fail it are the first run's, read back from the report."""
    scope = write_scope(["127.0.0.1"], [scp_factory("OPEN")], expires=LATER)
    out = tmp_path / "resumed.jsonl"
    first = run("scan", "--scope", str(scope), "-o", str(out), *FAST)
    assert first.returncode == 0, first.stderr
    again = run(
        "scan", "--scope", str(scope), "-o", str(out), "--resume", "--fail-on", "info", *FAST
    )
    assert again.returncode == 1, again.stderr
    records = out.read_text(encoding="utf-8").splitlines()
    assert sum('"record":"endpoint"' in r for r in records) == 1  # not probed again
    assert sum('"record":"resume"' in r for r in records) == 1
    assert "at or above info" in again.stderr.splitlines()[-1]


@pytest.mark.parametrize("value", ["severe", "", "none", "HIGHEST"])
def test_an_unknown_severity_is_one_line_before_any_packet(write_scope, tmp_path, value):
    scope = write_scope(["127.0.0.1"], [free_port()], expires=LATER)
    out = tmp_path / "never.jsonl"
    proc = run("scan", "--scope", str(scope), "-o", str(out), "--fail-on", value)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("exposcan: error: --fail-on takes one of info, low")
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def accept_file(path, report_path, expires: date) -> None:
    """An accepted-risk file covering every finding the report holds, on its endpoint."""
    report = exposcan.read_report(report_path)
    entries = {(f.id, r.host, r.port) for r in report.results for f in r.findings}
    path.write_text(
        "".join(
            f'[[accept]]\nfinding = "{finding}"\nhost = "{host}"\nport = {port}\n'
            f'reason = "synthetic test decision"\nexpires = {expires.isoformat()}\n\n'
            for finding, host, port in sorted(entries)
        ),
        encoding="utf-8",
    )


def test_accepted_findings_are_marked_everywhere_and_leave_the_gate(scanned, tmp_path):
    scope, found = scanned
    accept = tmp_path / "accepted.toml"
    accept_file(accept, tmp_path / "first.jsonl", LATER)
    base = tmp_path / "accepted"
    proc = run(
        "scan", "--scope", str(scope), "-oA", str(base), "--accept", str(accept),
        "--fail-on", "info", *FAST,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    noun = "finding" if len(found) == 1 else "findings"
    assert proc.stderr.splitlines()[-1] == (
        f"exposcan: 0 findings at or above info ({len(found)} accepted {noun} not counted)"
    )
    report = exposcan.read_report(f"{base}.jsonl")
    marks = [f.accepted for r in report.results for f in r.findings]
    assert len(marks) == len(found)
    assert all(m is not None and m.reason == "synthetic test decision" for m in marks)
    document = json.loads(Path(f"{base}.json").read_text(encoding="utf-8"))
    in_json = [f.get("accepted") for e in document["endpoints"] for f in e["findings"]]
    assert len(in_json) == len(found)
    assert all(a and a["reason"] == "synthetic test decision" for a in in_json)


def test_a_lapsed_acceptance_fails_the_gate_again_with_a_warning(scanned, tmp_path):
    scope, found = scanned
    accept = tmp_path / "accepted.toml"
    accept_file(accept, tmp_path / "first.jsonl", date.today() - timedelta(days=2))
    out = tmp_path / "lapsed.jsonl"
    proc = run(
        "scan", "--scope", str(scope), "-o", str(out), "--accept", str(accept),
        "--fail-on", "info", *FAST,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("exposcan: warning: ")
    assert "expired" in lines[0]
    assert lines[-1].startswith(f"exposcan: {len(found)} finding")


def test_an_accepted_risk_file_that_does_not_parse_is_one_line(write_scope, tmp_path):
    scope = write_scope(["127.0.0.1"], [free_port()], expires=LATER)
    accept = tmp_path / "accepted.toml"
    accept.write_text('[[accept]]\nfinding = "no-such-finding"\n', encoding="utf-8")
    out = tmp_path / "never.jsonl"
    proc = run("scan", "--scope", str(scope), "-o", str(out), "--accept", str(accept))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()

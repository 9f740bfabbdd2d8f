"""``exposcan diff`` on real reports: two weeks of scans of loopback pynetdicom SCPs whose
state the test changes in between (one service goes away, one appears on a port that was
closed, the second week scans one more port), and a resumed second week; then the diff
as text, JSON and JSONL, the gate, -o, and bad input (one line, exit 2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt

from exposcan.lab import free_port
from tests.support.cli_child import run
from tests.support.oddfiles import one_error_line
from tests.support.report_runs import cut_report, resume_into, scan_into
from tests.support.scope_files import scope_text
from tests.support.scps import synthetic_match

VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"


def start_scp(port: int, *, find: bool) -> Any:
    """A pynetdicom SCP on 127.0.0.1:``port`` (a port chosen by the test, so that a
    service can appear where an earlier scan found nothing): C-ECHO for anyone, and with
    ``find`` a Study Root C-FIND that answers two synthetic matches."""

    def on_find(event: Any) -> Iterator[tuple[int, Any]]:
        for index in range(2):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield 0xFF00, synthetic_match(index)
        yield 0x0000, None

    ae = AE(ae_title="DIFF-SCP")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.maximum_associations = 4
    ae.add_supported_context(VERIFICATION)
    handlers: list[Any] = [(evt.EVT_C_ECHO, lambda event: 0x0000)]
    if find:
        ae.add_supported_context(STUDY_ROOT_FIND)
        handlers.append((evt.EVT_C_FIND, on_find))
    return ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)


@dataclass(frozen=True)
class Weeks:
    old: Path
    new: Path
    resumed: Path
    #: echo for anyone in week 1, gone in week 2
    gone: int
    #: closed in week 1, C-FIND with matches in week 2
    appeared: int
    #: scanned in week 2 only (the scope gained it)
    added: int


@pytest.fixture(scope="module")
def weeks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weeks]:
    folder = tmp_path_factory.mktemp("weeks")
    servers: list[Any] = []
    try:
        gone_server = start_scp(0, find=False)
        servers.append(gone_server)
        gone, appeared = gone_server.server_address[1], free_port()
        added_server = start_scp(0, find=False)
        servers.append(added_server)
        added = added_server.server_address[1]
        week1, week2 = folder / "week1.toml", folder / "week2.toml"
        week1.write_text(scope_text(["127.0.0.1"], [gone, appeared]), encoding="utf-8")
        week2.write_text(scope_text(["127.0.0.1"], [gone, appeared, added]), encoding="utf-8")
        old, new, resumed = folder / "old.jsonl", folder / "new.jsonl", folder / "resumed.jsonl"
        asyncio.run(scan_into(week1, old))
        servers.remove(gone_server)
        gone_server.shutdown()
        servers.append(start_scp(appeared, find=True))
        asyncio.run(scan_into(week2, new))
        asyncio.run(scan_into(week2, resumed))
        cut_report(resumed, keep=2, done=1)  # the header and one endpoint
        asyncio.run(resume_into(week2, resumed))
        yield Weeks(old, new, resumed, gone, appeared, added)
    finally:
        for server in servers:
            server.shutdown()


def diff(*args: str | Path) -> Any:
    return run("diff", *map(str, args), timeout=60)


def test_text_shows_what_appeared_what_went_and_what_was_not_compared(weeks: Weeks) -> None:
    proc = diff(weeks.old, weeks.new)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("exposcan diff: OLD scan ")
    assert f"+ 127.0.0.1:{weeks.appeared} dimse none→query" in proc.stdout
    assert f"- 127.0.0.1:{weeks.gone} dimse echo→none" in proc.stdout
    assert "    + dicom-query-matches (critical)" in lines
    assert "    - dicom-echo-unauthenticated (medium)" in lines
    assert f"! not compared: port {weeks.added} only in NEW (1 endpoint)" in lines
    assert "compared 2 endpoints" in lines
    assert "1 endpoint not compared" in lines[-1]


def test_the_gate_fails_on_a_new_finding_at_or_above_the_threshold(weeks: Weeks) -> None:
    assert diff(weeks.old, weeks.new, "--fail-on", "critical").returncode == 1
    assert diff(weeks.old, weeks.new, "--fail-on", "HIGH").returncode == 1
    # the other way round, the query service is resolved; only the echo one (medium) is new
    backwards = diff(weeks.new, weeks.old, "--fail-on", "high")
    assert backwards.returncode == 0, backwards.stdout
    assert f"- 127.0.0.1:{weeks.appeared} dimse query→none" in backwards.stdout
    assert f"+ 127.0.0.1:{weeks.gone} dimse none→echo" in backwards.stdout
    assert diff(weeks.new, weeks.old, "--fail-on", "medium").returncode == 1


def test_accepted_new_findings_are_shown_and_do_not_fail_the_gate(
    weeks: Weeks, tmp_path: Path
) -> None:
    accepted = tmp_path / "accepted.jsonl"
    lines = []
    for text in weeks.new.read_text(encoding="utf-8").splitlines():
        record = json.loads(text)
        for finding in record["findings"] if record["record"] == "endpoint" else ():
            finding["accepted"] = {"reason": "test bench", "expires": "2099-12-31"}
        lines.append(json.dumps(record) + "\n")
    accepted.write_text("".join(lines), encoding="utf-8")
    proc = diff(weeks.old, accepted, "--fail-on", "info")
    assert proc.returncode == 0, proc.stdout
    assert "dicom-query-matches (critical)  accepted until 2099-12-31: test bench" in proc.stdout
    assert "0 new findings" in proc.stdout
    assert "new accepted" in proc.stdout


def test_an_accepted_risk_file_marks_both_reports_and_keeps_the_finding_off_the_gate(
    weeks: Weeks, tmp_path: Path
) -> None:
    accept = tmp_path / "accepted.toml"
    accept.write_text(
        "[[accept]]\n"
        'finding = "dicom-query-matches"\n'
        'host = "127.0.0.1"\n'
        f"port = {weeks.appeared}\n"
        'reason = "synthetic test archive"\n'
        "expires = 2099-12-31\n",
        encoding="utf-8",
    )
    assert diff(weeks.old, weeks.new, "--fail-on", "critical").returncode == 1
    proc = diff(weeks.old, weeks.new, "--fail-on", "critical", "--accept", accept)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "dicom-query-matches (critical)  accepted until 2099-12-31: synthetic test archive" in (
        proc.stdout
    )
    # the other new findings of that port are not covered: they still fail a lower gate
    failed = diff(weeks.old, weeks.new, "--fail-on", "medium", "--accept", accept)
    assert failed.returncode == 1
    assert "new findings at or above medium, not accepted" in failed.stderr
    lapsed = tmp_path / "lapsed.toml"
    lapsed.write_text(accept.read_text().replace("2099-12-31", "2020-01-31"), encoding="utf-8")
    proc = diff(weeks.old, weeks.new, "--fail-on", "critical", "--accept", lapsed)
    assert proc.returncode == 1
    assert "exposcan: warning: 1 finding's acceptance has expired" in proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[accept]]\nfinding = "dicom-query-matches"\n', encoding="utf-8")
    one_error_line(diff(weeks.old, weeks.new, "--accept", bad), "bad.toml")
    one_error_line(diff(weeks.old, weeks.new, "--accept", tmp_path / "none.toml"), "none.toml")


def test_json_is_one_document_naming_both_scans(weeks: Weeks) -> None:
    proc = diff(weeks.old, weeks.new, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    old_header = json.loads(weeks.old.read_text(encoding="utf-8").splitlines()[0])
    new_header = json.loads(weeks.new.read_text(encoding="utf-8").splitlines()[0])
    assert document["old"]["scan_id"] == old_header["scan_id"]
    assert document["new"]["scan_id"] == new_header["scan_id"]
    assert document["old"]["started_at"] == old_header["started_at"]
    assert [c["port"] for c in document["new_exposures"]] == [weeks.appeared]
    assert [c["port"] for c in document["resolved_exposures"]] == [weeks.gone]
    assert document["not_compared"] == [
        {"side": "new", "endpoints": 1, "reason": f"port {weeks.added} only in NEW"}
    ]
    assert document["summary"]["new_findings"]["critical"] >= 1


def test_jsonl_is_one_record_per_change(weeks: Weeks, tmp_path: Path) -> None:
    out = tmp_path / "diff.jsonl"
    proc = diff(weeks.old, weeks.new, "--format", "jsonl", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    kinds = [r["record"] for r in records]
    assert kinds[0] == "diff"
    assert kinds[-1] == "diff-summary"
    assert kinds.count("new-exposure") == kinds.count("resolved-exposure") == 1
    assert kinds.count("not-compared") == 1
    assert "dicom-query-matches" in {r["id"] for r in records if r["record"] == "new-finding"}
    assert len({r["new_scan_id"] for r in records}) == 1


def test_a_resumed_report_diffs_as_the_uninterrupted_one(weeks: Weeks) -> None:
    """Week 2 once straight through, once cut after one endpoint and resumed: two
    summaries in the file; the diff against week 1 is the same but for the scan ids."""
    text = weeks.resumed.read_text(encoding="utf-8")
    assert [json.loads(line)["record"] for line in text.splitlines()].count("summary") == 2
    straight = json.loads(diff(weeks.old, weeks.new, "--format", "json").stdout)
    resumed = json.loads(diff(weeks.old, weeks.resumed, "--format", "json").stdout)
    assert resumed["new"]["interrupted"] is False
    for section in ("new_exposures", "resolved_exposures", "not_compared", "new_findings"):
        assert resumed[section] == straight[section], section
    assert resumed["compared"] == straight["compared"] == 2


def test_a_report_killed_half_way_is_compared_where_it_got_to(weeks: Weeks, tmp_path: Path) -> None:
    """A report whose writer died after the header and one endpoint, mid-line: read as
    an interrupted scan; what it never reached is not compared, not resolved."""
    lines = weeks.new.read_text(encoding="utf-8").splitlines(keepends=True)
    killed = tmp_path / "killed.jsonl"
    killed.write_text(lines[0] + lines[1] + lines[2][:20], encoding="utf-8")
    proc = diff(weeks.old, killed, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["new"]["interrupted"] is True
    assert document["compared"] == 1
    reasons = " ".join(n["reason"] for n in document["not_compared"])
    assert "stopped before them" in reasons


def test_bad_input_is_one_line_and_exit_2(weeks: Weeks, tmp_path: Path) -> None:
    scope = tmp_path / "scope.toml"
    scope.write_text(scope_text(["127.0.0.1"], [104]), encoding="utf-8")
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"record": "scan", "scan_', encoding="utf-8")
    one_error_line(diff(weeks.old, scope), "cannot read report", "scope.toml")
    one_error_line(diff(torn, weeks.new), "cannot read report", "no scan record")
    one_error_line(diff(weeks.old, tmp_path / "missing.jsonl"), "missing.jsonl")
    one_error_line(diff(weeks.old, weeks.new, "--format", "html"), "--format")
    one_error_line(diff(weeks.old, weeks.new, "--fail-on", "severe"), "--fail-on", "severe")
    one_error_line(diff(weeks.old), "NEW")


def test_the_diff_is_never_written_over_a_report_it_reads(weeks: Weeks) -> None:
    before = weeks.new.read_bytes()
    one_error_line(diff(weeks.old, weeks.new, "-o", weeks.new), "NEW report")
    assert weeks.new.read_bytes() == before


def test_a_diff_from_the_library_loads_no_scanner(weeks: Weeks) -> None:
    """Comparing two files sends nothing: in a fresh interpreter, reading both reports,
    diffing and rendering them imports no engine, probe or DICOM codec."""
    code = (
        "import io, sys\n"
        "import exposcan\n"
        "from exposcan.diff import diff_reports\n"
        "from exposcan.report.diff_render import render_diff\n"
        "old, new = (exposcan.read_report(path) for path in sys.argv[1:])\n"
        "diff = diff_reports(old, new)\n"
        "render_diff(diff, 'text', io.StringIO())\n"
        "loaded = [m for m in ('exposcan.engine', 'exposcan.scan', 'exposcan.probes.dimse',"
        " 'pynetdicom', 'aiohttp') if m in sys.modules]\n"
        "print(len(diff.new_findings) > 0, loaded)\n"
    )
    proc = run(str(weeks.old), str(weeks.new), prefix=("-c", code))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True []", proc.stdout

"""``exposcan report``: a saved JSONL report rendered in any format without a packet,
``--accept`` marks, ``--fail-on`` gates, and every bad input is one line and exit 2.

The reports are real: the in-process lab scanned once per module by the library, its
records streamed to a JSONL and a JSON writer at once (the same run in two formats),
and a second report killed after three endpoints and resumed. The lab is stopped
before any test runs ``report``: nothing listens there when it reads them.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exposcan.gating import failing
from exposcan.report import FORMATS
from exposcan.report.convert import render, write_report
from exposcan.report.json_ import JsonWriter
from exposcan.report.jsonl import JsonlWriter
from exposcan.report.read import read_report
from exposcan.report.resume import load_resume
from exposcan.report.tee import Tee
from exposcan.report.writer import open_output
from exposcan.results import EndpointResult
from exposcan.summary import ScanReport, Summary, SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Severity, Status
from tests.support.cli_child import run_cli

#: an expiry far enough ahead that no run of the suite sees it pass
LATER = datetime.date(2099, 12, 31)


@dataclass(frozen=True)
class LabReports:
    jsonl: Path
    json: Path
    resumed: Path
    endpoints: int


async def _scan_lab(folder: Path) -> LabReports:
    from exposcan.lab import running_lab
    from exposcan.scan import prepare

    with running_lab() as lab:
        scope = folder / "scope.toml"
        scope.write_text(lab.scope_toml(), encoding="utf-8")
        plan = await prepare(scope, options=lab.scan_options())
        jsonl, as_json = folder / "lab.jsonl", folder / "lab.json"
        with jsonl.open("w", encoding="utf-8") as a, as_json.open("w", encoding="utf-8") as b:
            await plan.run(Tee(JsonlWriter(a), JsonWriter(b)))
        # A scan interrupted after three endpoints (its summary says so), then resumed
        # into the file: two runs, two summaries.
        resumed = folder / "resumed.jsonl"
        lines = jsonl.read_text(encoding="utf-8").splitlines(keepends=True)
        first = [line for line in lines if '"record":"endpoint"' in line][:3]
        summary = {**json.loads(lines[-1]), "interrupted": True, "endpoints_done": len(first)}
        kept = [lines[0], *first, json.dumps(summary) + "\n"]
        resumed.write_text("".join(kept), encoding="utf-8")
        state = load_resume(resumed, plan.header(), targets=plan.targets)
        output = open_output(resumed, resume_at=state.good_bytes)
        try:
            await plan.run(JsonlWriter(output.stream), resume=state)
            output.commit()
        finally:
            output.close()
        return LabReports(jsonl, as_json, resumed, plan.total)


@pytest.fixture(scope="module")
def lab_reports(tmp_path_factory: pytest.TempPathFactory) -> LabReports:
    return asyncio.run(_scan_lab(tmp_path_factory.mktemp("lab")))


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def stamp(text: str) -> dict[str, Any]:
    """What the JSONL writer puts on every line after the first (scan id, site)."""
    header = records(text)[0]
    return {k: header[k] for k in ("scan_id", "site") if header.get(k) is not None}


def one_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("exposcan: error: ")
    assert "Traceback" not in err
    assert out == ""
    for word in words:
        assert word in lines[0], lines[0]


def synthetic_summary(results: tuple[EndpointResult, ...]) -> Summary:
    builder = SummaryBuilder(started_at="2027-01-15T12:00:00.000+00:00", total=len(results))
    for result in results:
        builder.add(result)
    return builder.build(
        finished_at="2027-01-15T12:00:01.000+00:00", duration_s=1.0, interrupted=False
    )


def synthetic_header(results: tuple[EndpointResult, ...]) -> dict[str, Any]:
    return {
        "record": "scan",
        "scan_id": "5a2c4e0e-8d39-4c1b-9d1e-0d6b8c0f7a11",
        "tool": "exposcan",
        "started_at": "2027-01-15T12:00:00.000+00:00",
        "site": "synthetic",
        "scope": {
            "source": "scope.toml",
            "digest": "sha256:" + "0" * 64,
            "owner": "Synthetic Hospital IT Security",
            "reference": "CHG-SYNTHETIC",
            "expires": "2027-12-31T23:59:59.999999+00:00",
            "include": ["10.20.0.0/16"],
            "exclude": [],
        },
        "ports": sorted({r.port for r in results if r.protocol is Protocol.DIMSE}),
        "web_ports": sorted({r.port for r in results if r.protocol is Protocol.HTTP}),
        "endpoints": len(results),
    }


def synthetic_report(tmp_path: Path, *results: EndpointResult) -> Path:
    report = ScanReport(
        header=synthetic_header(results), results=results, summary=synthetic_summary(results)
    )
    path = tmp_path / "synthetic.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        render(report, "jsonl", stream)
    return path


def medium_only(host: str = "10.20.0.5") -> EndpointResult:
    from exposcan import findings

    return EndpointResult(
        host=host,
        port=104,
        protocol=Protocol.DIMSE,
        status=Status.SUCCESS,
        exposure=Exposure.ECHO,
        findings=(findings.DICOM_ECHO_UNAUTHENTICATED.found("C-ECHO succeeded as ANY-SCP"),),
    )


def accept_file(tmp_path: Path, *entries: dict[str, Any], name: str = "accepted.toml") -> Path:
    def value(v: Any) -> str:
        return v.isoformat() if isinstance(v, datetime.date) else json.dumps(v)

    text = "".join(
        "[[accept]]\n" + "".join(f"{k} = {value(v)}\n" for k, v in entry.items())
        for entry in entries
    )
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- conversion ---------------------------------------------------------------------


async def test_jsonl_to_jsonl_gives_the_same_records(lab_reports: LabReports, tmp_path: Path):
    out = tmp_path / "again.jsonl"
    code, stdout, err = await run_cli(
        "report", str(lab_reports.jsonl), "--format", "jsonl", "-o", str(out)
    )
    assert (code, stdout, err) == (0, "", "")
    written = records(lab_reports.jsonl.read_text(encoding="utf-8"))
    assert records(out.read_text(encoding="utf-8")) == written
    assert sum(r["record"] == "endpoint" for r in written) == lab_reports.endpoints


async def test_a_report_the_cli_scan_wrote_converts_back_to_itself(tmp_path: Path):
    """End to end: ``exposcan scan`` of the lab writes JSONL; ``exposcan report`` of it,
    once the lab is gone, writes the same records back and a gate on what it holds."""
    from exposcan.lab import running_lab
    from tests.support.cli_child import FAST

    scanned = tmp_path / "scan.jsonl"
    with running_lab() as lab:
        scope = tmp_path / "scope.toml"
        scope.write_text(lab.scope_toml(), encoding="utf-8")
        code, _, err = await run_cli(
            "scan", "--scope", str(scope), *FAST, "--format", "jsonl", "-o", str(scanned)
        )
        assert code == 0, err
    code, stdout, err = await run_cli("report", str(scanned), "--format", "jsonl")
    assert (code, err) == (0, "")
    assert records(stdout) == records(scanned.read_text(encoding="utf-8"))
    found = failing(read_report(scanned).results, Severity.CRITICAL)
    code, _, err = await run_cli(
        "report", str(scanned), "-o", str(tmp_path / "r.csv"), "--fail-on", "critical"
    )
    assert code == (1 if found else 0), err
    assert found  # the lab answers a query: the gate has something to catch


async def test_json_equals_what_the_scan_wrote_as_json(lab_reports: LabReports):
    code, stdout, err = await run_cli("report", str(lab_reports.jsonl), "--format", "json")
    assert code == 0, err
    assert json.loads(stdout) == json.loads(lab_reports.json.read_text(encoding="utf-8"))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_every_format_is_written(lab_reports: LabReports, tmp_path: Path, fmt: str):
    out = tmp_path / f"report.{fmt}"
    # The HTML page says when it was written, to the minute: render it before and after
    # the child does, and one of the two is what the child wrote.
    before = rendered(lab_reports.jsonl, fmt, tmp_path / "before")
    code, _, err = await run_cli("report", str(lab_reports.jsonl), "--format", fmt, "-o", str(out))
    assert code == 0, err
    after = rendered(lab_reports.jsonl, fmt, tmp_path / "after")
    assert out.read_text(encoding="utf-8") in (before, after)
    assert out.stat().st_size > 0


def rendered(report: Path, fmt: str, path: Path) -> str:
    write_report(read_report(report), path, fmt)
    return path.read_text(encoding="utf-8")


async def test_the_format_follows_the_output_suffix_else_html(lab_reports: LabReports, tmp_path):
    out = tmp_path / "week.sarif"
    code, _, err = await run_cli("report", str(lab_reports.jsonl), "-o", str(out))
    assert code == 0, err
    assert json.loads(out.read_text(encoding="utf-8"))["version"] == "2.1.0"
    code, stdout, err = await run_cli("report", str(lab_reports.jsonl))
    assert code == 0, err
    assert "<html" in stdout.lower()
    dojo = tmp_path / "week.DefectDojo.json"  # as -oA names it
    code, _, err = await run_cli("report", str(lab_reports.jsonl), "-o", str(dojo))
    assert code == 0, err
    expected = rendered(lab_reports.jsonl, "defectdojo", tmp_path / "expected.json")
    assert dojo.read_text(encoding="utf-8") == expected
    assert "findings" in json.loads(dojo.read_text(encoding="utf-8"))
    odd = tmp_path / "week.txt"
    code, _, err = await run_cli("report", str(lab_reports.jsonl), "-o", str(odd))
    assert code == 0, err
    assert "<html" in odd.read_text(encoding="utf-8").lower()


async def test_a_resumed_report_reads_as_the_whole_scan(lab_reports: LabReports):
    text = lab_reports.resumed.read_text(encoding="utf-8")
    assert sum(r["record"] == "summary" for r in records(text)) == 2  # interrupted, resumed
    assert sum(r["record"] == "resume" for r in records(text)) == 1
    code, stdout, err = await run_cli("report", str(lab_reports.resumed), "--format", "json")
    assert code == 0, err
    document = json.loads(stdout)
    keys = [(e["host"], e["port"], e["protocol"]) for e in document["endpoints"]]
    assert len(keys) == len(set(keys)) == lab_reports.endpoints
    assert document["summary"]["endpoints_done"] == lab_reports.endpoints
    assert document["summary"]["interrupted"] is False
    code, stdout, err = await run_cli("report", str(lab_reports.resumed), "--format", "jsonl")
    assert code == 0, err
    assert [r["record"] for r in records(stdout)].count("summary") == 1
    assert records(stdout)[-1] == {**document["summary"], "record": "summary", **stamp(stdout)}


async def test_a_torn_last_line_is_cut_as_a_killed_writer_left_it(lab_reports, tmp_path: Path):
    torn = tmp_path / "torn.jsonl"
    text = lab_reports.jsonl.read_text(encoding="utf-8")
    torn.write_text(text + '{"record": "endpoint", "host": "127.0', encoding="utf-8")
    code, stdout, err = await run_cli("report", str(torn), "--format", "jsonl")
    assert code == 0, err
    assert records(stdout) == records(text)


# --- the gate -----------------------------------------------------------------------


async def test_fail_on_exits_1_after_writing_and_says_how_many(lab_reports, tmp_path: Path):
    found = failing(read_report(lab_reports.jsonl).results, Severity.HIGH)
    assert found  # the lab has query and store exposures
    out = tmp_path / "gated.json"
    code, stdout, err = await run_cli(
        "report", str(lab_reports.jsonl), "-o", str(out), "--fail-on", "high"
    )
    assert code == 1
    assert stdout == ""
    written = json.loads(out.read_text(encoding="utf-8"))  # whole, before the exit
    assert len(written["endpoints"]) == lab_reports.endpoints
    assert err.splitlines() == [f"exposcan: {len(found)} findings at or above high"]


async def test_fail_on_counts_only_at_or_above_the_threshold(tmp_path: Path):
    report = synthetic_report(tmp_path, medium_only())
    code, _, err = await run_cli(
        "report", str(report), "-o", str(tmp_path / "a.csv"), "--fail-on", "high"
    )
    assert (code, err) == (0, "exposcan: 0 findings at or above high\n")
    code, _, err = await run_cli(
        "report", str(report), "-o", str(tmp_path / "q.csv"), "--fail-on", "high", "--quiet"
    )
    assert (code, err) == (0, "")
    code, _, err = await run_cli(
        "report", str(report), "-o", str(tmp_path / "b.csv"), "--fail-on", "MEDIUM", "--quiet"
    )
    assert (code, err) == (1, "exposcan: 1 finding at or above medium\n")  # always said


async def test_accepted_findings_are_marked_and_leave_the_gate(lab_reports, tmp_path: Path):
    report = read_report(lab_reports.jsonl)
    critical = sorted({f.id for _, f in failing(report.results, Severity.CRITICAL)})
    assert critical
    risks = accept_file(
        tmp_path,
        *(
            {
                "finding": i,
                "host": "127.0.0.0/8",
                "reason": "lab, CHG-1",
                "expires": LATER,
            }
            for i in critical
        ),
    )
    out = tmp_path / "accepted.jsonl"
    code, _, err = await run_cli(
        "report",
        str(lab_reports.jsonl),
        "--accept",
        str(risks),
        "-o",
        str(out),
        "--fail-on",
        "critical",
    )
    held = sum(1 for r in read_report(out).results for f in r.findings if f.accepted is not None)
    assert (code, err) == (
        0,
        f"exposcan: 0 findings at or above critical ({held} accepted findings not counted)\n",
    )
    assert held >= len(critical)
    marks = {
        (f["id"], json.dumps(f["accepted"]))
        for r in records(out.read_text(encoding="utf-8"))
        if r["record"] == "endpoint"
        for f in r["findings"]
    }
    accepted = {"reason": "lab, CHG-1", "expires": LATER.isoformat()}
    assert {i for i, m in marks if m != "null"} == set(critical)
    assert all(json.loads(m) == accepted for i, m in marks if i in critical)
    # still failing at a lower threshold: only what the file names is accepted
    code, _, err = await run_cli(
        "report",
        str(lab_reports.jsonl),
        "--accept",
        str(risks),
        "-o",
        str(tmp_path / "x.csv"),
        "--fail-on",
        "high",
    )
    assert code == (1 if failing(read_report(out).results, Severity.HIGH) else 0), err


async def test_a_lapsed_acceptance_is_said_and_fails_the_gate(tmp_path: Path):
    report = synthetic_report(tmp_path, medium_only())
    risks = accept_file(
        tmp_path,
        {
            "finding": "dicom-echo-unauthenticated",
            "host": "10.20.0.5",
            "port": 104,
            "reason": "r",
            "expires": datetime.date(2020, 1, 31),
        },
    )
    out = tmp_path / "out.json"
    code, _, err = await run_cli(
        "report", str(report), "--accept", str(risks), "-o", str(out), "--fail-on", "medium"
    )
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == (
        "exposcan: warning: 1 finding's acceptance has expired (dicom-echo-unauthenticated on "
        "10.20.0.5 port 104, accepted until 2020-01-31); they count for --fail-on again"
    )
    assert lines[1].startswith("exposcan: 1 finding at or above medium")
    (finding,) = json.loads(out.read_text(encoding="utf-8"))["endpoints"][0]["findings"]
    assert finding["accepted"] == {"reason": "r", "expires": "2020-01-31"}


# --- bad input: one line, exit 2, nothing written -------------------------------------


async def test_not_a_report_missing_or_broken(tmp_path: Path, lab_reports: LabReports):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n", encoding="utf-8")
    one_error(*await run_cli("report", str(notes)), "notes.txt")
    one_error(*await run_cli("report", str(tmp_path / "nope.jsonl")), "nope.jsonl")
    one_error(*await run_cli("report", str(tmp_path)), str(tmp_path))
    lines = lab_reports.jsonl.read_text(encoding="utf-8").splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join([lines[0], "{not json\n", *lines[1:]]), encoding="utf-8")
    one_error(*await run_cli("report", str(broken)), "broken.jsonl", "line 2")


async def test_unknown_format_or_severity(lab_reports: LabReports):
    one_error(*await run_cli("report", str(lab_reports.jsonl), "--format", "pdf"), "pdf")
    one_error(
        *await run_cli("report", str(lab_reports.jsonl), "--fail-on", "severe"),
        "--fail-on",
        "severe",
    )


async def test_a_bad_accept_file(lab_reports: LabReports, tmp_path: Path):
    risks = accept_file(
        tmp_path,
        {"finding": "dicom-echo-open", "reason": "r", "expires": LATER},
    )
    one_error(
        *await run_cli("report", str(lab_reports.jsonl), "--accept", str(risks)),
        "accepted.toml entry 1 (line 1)",
        "dicom-echo-open",
    )
    one_error(
        *await run_cli("report", str(lab_reports.jsonl), "--accept", str(tmp_path / "no.toml")),
        "no.toml",
    )


async def test_the_output_never_overwrites_an_input(lab_reports: LabReports, tmp_path: Path):
    report = synthetic_report(tmp_path, medium_only())
    before = report.read_bytes()
    one_error(
        *await run_cli("report", str(report), "--format", "jsonl", "-o", str(report)),
        "the report read",
    )
    risks = accept_file(
        tmp_path,
        {
            "finding": "dicom-echo-unauthenticated",
            "reason": "r",
            "expires": LATER,
        },
    )
    risk_text = risks.read_bytes()
    one_error(
        *await run_cli("report", str(report), "--accept", str(risks), "-o", str(risks)),
        "the accepted-risk file",
    )
    assert report.read_bytes() == before
    assert risks.read_bytes() == risk_text
    one_error(
        *await run_cli("report", str(report), "-o", str(tmp_path / "no" / "x.html")), "x.html"
    )
    assert sorted(os.listdir(tmp_path)) == ["accepted.toml", "synthetic.jsonl"]


# --- the library call the CLI makes ---------------------------------------------------


def test_a_failed_write_leaves_the_earlier_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from exposcan.errors import OutputError
    from exposcan.report import convert

    path = synthetic_report(tmp_path, medium_only())
    report = read_report(path)
    out = tmp_path / "week.html"
    write_report(report, out, "html")
    earlier = out.read_bytes()

    def broken(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(convert, "render", broken)
    with pytest.raises(OutputError, match=r"cannot write report to .*week\.html: No space left"):
        write_report(report, out, "html")
    assert out.read_bytes() == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic.jsonl", "week.html"]


def test_evidence_comes_back_before_the_endpoint_that_learnt_it(tmp_path: Path):
    """As a scan writes it: a web API's word about the DICOM port of its host goes just
    before the web endpoint's own record, so JSONL to JSONL is the same file."""
    from exposcan.probe import HostEvidence

    dicom = EndpointResult(
        host="10.20.0.7",
        port=4242,
        protocol=Protocol.DIMSE,
        status=Status.SUCCESS,
        exposure=Exposure.PROTECTED,
    )
    web = EndpointResult(
        host="10.20.0.7",
        port=8042,
        protocol=Protocol.HTTP,
        status=Status.SUCCESS,
        exposure=Exposure.PROTECTED,
    )
    said = HostEvidence(
        host="10.20.0.7", port=4242, source="web", source_port=8042, product="Orthanc"
    )
    scanned = tmp_path / "scanned.jsonl"
    with scanned.open("w", encoding="utf-8") as stream:
        writer = JsonlWriter(stream)
        writer.start(synthetic_header((dicom, web)))
        writer.endpoint(dicom)
        writer.evidence(said)
        writer.endpoint(web)
        writer.finish(synthetic_summary((dicom, web)))
    report = read_report(scanned)
    assert report.evidence == (said,)
    again = tmp_path / "again.jsonl"
    write_report(report, again, "jsonl")
    assert again.read_text(encoding="utf-8") == scanned.read_text(encoding="utf-8")


def test_a_jsonl_a_scan_is_writing_is_not_replaced(tmp_path: Path):
    from exposcan.errors import OutputError

    path = synthetic_report(tmp_path, medium_only())
    live = tmp_path / "live.jsonl"
    output = open_output(live)  # as a scan holds its JSONL: locked while it writes
    try:
        with pytest.raises(OutputError, match="another exposcan is writing it now"):
            write_report(read_report(path), live, "jsonl")
    finally:
        output.close()
    write_report(read_report(path), live, "jsonl")
    assert records(live.read_text(encoding="utf-8")) == records(path.read_text(encoding="utf-8"))

"""exposcan.read_report: a JSONL report reads back as the scan that wrote it (header,
typed results, summary), a resumed one as the whole scan (its summaries merged), and a
report is untrusted input: whatever the file holds, a ScanReport or one ReportError line,
by the same reader and the same torn-line rule as --resume."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exposcan
from exposcan.errors import ReportError, UserError
from exposcan.lab import free_port
from exposcan.report import read_jsonl
from exposcan.report.jsonl import JsonlWriter
from exposcan.report.resume import load_resume
from exposcan.report.writer import open_output
from exposcan.results import EndpointResult
from exposcan.vocabulary import Exposure

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
VERIFICATION = "1.2.840.10008.1.1"


def line(record: object) -> bytes:
    return json.dumps(record).encode() + b"\n"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


# --- real scans written by the library, read back --------------------------------------


@pytest.fixture
async def plan(scp_factory, write_scope):
    """A scan of three loopback endpoints: C-ECHO for anyone, C-FIND that answers with
    three synthetic matches, and a closed port."""
    echo = scp_factory("ECHO-SCP")
    find = scp_factory("FIND-SCP", contexts=(VERIFICATION, STUDY_ROOT_FIND), find_matches=3)
    closed = free_port("127.0.0.1")
    return await exposcan.prepare(write_scope(["127.0.0.1"], [echo, find, closed]))


async def run_into(plan, path: Path, **kwargs: Any):
    kept: list[EndpointResult] = []
    with path.open("w", encoding="utf-8") as stream:
        summary = await plan.run(JsonlWriter(stream), keep=kept, **kwargs)
    return summary, kept


async def test_a_report_reads_back_as_the_scan_that_wrote_it(plan, tmp_path):
    out = tmp_path / "scan.jsonl"
    summary, kept = await run_into(plan, out)
    report = exposcan.read_report(out)
    assert isinstance(report, exposcan.ScanReport)
    assert report.header == records(out)[0]
    assert report.results == tuple(kept)  # the same typed results, in the order written
    assert report.summary == summary
    assert {r.exposure for r in report.results} == {Exposure.ECHO, Exposure.QUERY, Exposure.NONE}
    query = next(r for r in report.results if r.exposure is Exposure.QUERY)
    assert query.matches is not None
    assert query.matches.count == 3
    assert query.findings
    assert query.fingerprint is not None
    assert len(report.exposed()) == 2
    assert report.to_dict()["endpoints"] == [r.to_dict() for r in kept]


async def test_a_resumed_report_reads_back_as_one_scan(plan, tmp_path):
    """Run 1 stopped after one endpoint (its summary says interrupted, as after SIGINT),
    with a torn line after it; run 2 is a real --resume. The merged summary counts every
    endpoint once, sums both runs' durations, starts with run 1 and ends with run 2."""
    out = tmp_path / "scan.jsonl"
    _, first = await run_into(plan, out)
    header, endpoint = records(out)[:2]
    interrupted = {
        **records(out)[-1],
        "endpoints_done": 1,
        "interrupted": True,
        "duration_s": 1.5,
        "finished_at": "2026-01-01T00:00:01+00:00",
    }
    out.write_bytes(line(header) + line(endpoint) + line(interrupted) + b'{"record": "endp')

    state = load_resume(out, plan.header(), targets=plan.targets)
    output = open_output(out, resume_at=state.good_bytes)
    kept: list[EndpointResult] = []
    try:
        last = await plan.run(JsonlWriter(output.stream), keep=kept, resume=state)
    finally:
        output.close()
    assert [r["record"] for r in records(out)].count("summary") == 2

    report = exposcan.read_report(out)
    assert report.header == header
    assert len(report.results) == 3
    assert report.results[0] == EndpointResult.from_dict(endpoint)
    assert report.results[1:] == tuple(kept)
    assert {r.endpoint for r in report.results} == {r.endpoint for r in first}
    merged = report.summary
    # the counts are the whole scan's, as the resumed run's summary (seeded by --resume)
    for name in ("endpoints_done", "exposure", "status", "findings", "endpoints_planned"):
        assert getattr(merged, name) == getattr(last, name), name
    assert merged.endpoints_done == merged.endpoints_planned == 3
    assert merged.started_at == header["started_at"]
    assert merged.finished_at == last.finished_at
    assert merged.duration_s == round(1.5 + last.duration_s, 3)
    assert (merged.interrupted, merged.stopped) == (False, None)


async def test_a_killed_report_reads_back_interrupted(plan, tmp_path):
    """kill -9: no summary at all, a torn last line. What is on disk is the scan so far."""
    out = tmp_path / "scan.jsonl"
    _, kept = await run_into(plan, out)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:3]) + lines[3][:20])
    report = exposcan.read_report(out)
    assert report.results == tuple(kept[:2])
    summary = report.summary
    assert (summary.endpoints_done, summary.endpoints_planned) == (2, 3)
    assert sum(summary.exposure.values()) == 2
    assert summary.interrupted is True
    assert (summary.finished_at, summary.duration_s) == ("", 0.0)


# --- hand-written reports: the merge rules, the torn-line rule ---------------------------

HEADER: dict[str, Any] = {
    "record": "scan",
    "started_at": "2026-01-01T00:00:00+00:00",
    "ports": [104, 11112],
    "web_ports": [8042],
    "endpoints": 3,
}
ENDPOINT: dict[str, Any] = {
    "record": "endpoint",
    "host": "127.0.0.1",
    "port": 104,
    "protocol": "dimse",
    "status": "success",
    "exposure": "echo",
    "findings": [
        {"id": "dicom-echo-unauthenticated", "severity": "medium", "title": "t", "evidence": "e"}
    ],
}
WEB = {**ENDPOINT, "port": 8042, "protocol": "http", "exposure": "none", "findings": []}


def summary(**changes: Any) -> dict[str, Any]:
    return {
        "record": "summary",
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:00+00:00",
        "duration_s": 2.0,
        "endpoints_planned": 3,
        "endpoints_done": 1,
        "interrupted": True,
        "exposed": 1,
        "exposure": {"echo": 1},
        "status": {"success": 1},
        "findings": {},
        "stopped": None,
        **changes,
    }


def report(tmp_path: Path, *lines: object, tail: bytes = b"") -> Path:
    path = tmp_path / "report.jsonl"
    path.write_bytes(b"".join(r if isinstance(r, bytes) else line(r) for r in lines) + tail)
    return path


def test_several_summaries_merge(tmp_path):
    resumed_at = {"record": "resume", "started_at": "2026-01-02T00:00:00+00:00", "finished": 1}
    last = summary(
        started_at="2026-01-02T00:00:00+00:00",
        finished_at="2026-01-02T00:00:03+00:00",
        duration_s=0.25,
        endpoints_done=3,
        interrupted=False,
        stopped="authorisation-expired",
    )
    path = report(tmp_path, HEADER, ENDPOINT, summary(), resumed_at, WEB, last)
    merged = exposcan.read_report(path).summary
    assert merged.started_at == "2026-01-01T00:00:00+00:00"  # the first run's
    assert merged.finished_at == "2026-01-02T00:00:03+00:00"  # the last run's
    assert merged.duration_s == 2.25
    assert merged.interrupted is False
    assert merged.stopped == "authorisation-expired"
    # counted from the records read (the hand-written summary claims 3 endpoints)
    assert merged.endpoints_done == 2
    assert merged.endpoints_not_started == 1
    assert merged.exposure == {"none": 1, "protected": 0, "echo": 1, "store": 0, "query": 0}
    assert merged.findings == {"dicom-echo-unauthenticated": 1}


def test_a_last_run_killed_after_a_resume_is_interrupted(tmp_path):
    path = report(tmp_path, HEADER, ENDPOINT, summary(), {"record": "resume"}, WEB)
    merged = exposcan.read_report(path).summary
    assert (merged.interrupted, merged.finished_at, merged.duration_s) == (True, "", 2.0)


def test_an_endpoint_written_twice_is_read_once(tmp_path):
    again = {**ENDPOINT, "host": "::ffff:127.0.0.1", "exposure": "none"}  # the same endpoint
    result = exposcan.read_report(report(tmp_path, HEADER, ENDPOINT, again)).results
    assert [(r.host, r.exposure) for r in result] == [("127.0.0.1", Exposure.ECHO)]


def test_a_torn_last_line_is_cut_by_every_reader_even_when_it_parses(tmp_path):
    for torn in (b'{"record": "endp', json.dumps(ENDPOINT).encode()):
        path = report(tmp_path, HEADER, tail=torn)
        assert exposcan.read_report(path).results == ()
        assert [r["record"] for r in read_jsonl(path)] == ["scan"]


def test_peer_text_in_a_report_reads_back_clean(tmp_path):
    hostile = {**ENDPOINT, "ae_title": "\x1b[2J\u202eEVIL", "detail": "a\u2028b"}
    (result,) = exposcan.read_report(report(tmp_path, HEADER, hostile)).results
    assert (result.ae_title, result.detail) == ("[2JEVIL", "a b")


# --- a report is untrusted input ----------------------------------------------------------


def refused(path: Path, *words: str) -> str:
    with pytest.raises(ReportError) as caught:
        exposcan.read_report(path)
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert "\n" not in message, message
    assert message.isprintable(), message
    assert message.startswith("cannot read report"), message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe\x00garbage\n", ("line 1", "not UTF-8")),
        (b"[" * 100_000 + b"\n", ("line 1", "nested too deeply")),
        (b"[1, 2]\n", ("line 1", "array")),
        (b"1" * 5000 + b"\n", ("line 1", "not JSON")),
        (b"", ("holds no scan record",)),
        (b"\n\n", ("holds no scan record",)),
        (line({"record": "endpoint"}), ("does not start with a scan record",)),
        (line(HEADER) + line(HEADER), ("line 2", "a second scan record")),
        (line(HEADER) + line({"record": "\x1b[2J"}), ("line 2", "record '\\x1b[2J'")),
        (line(HEADER) + line({"record": ["x"]}), ("line 2", "record ['x']")),
        (line(HEADER) + line({**ENDPOINT, "port": 70_000}), ("line 2: port: 70000",)),
        (line(HEADER) + line({**ENDPOINT, "host": "pacs"}), ("line 2: host: 'pacs'",)),
        (line(HEADER) + line({**ENDPOINT, "findings": [{"id": 7}]}), ("findings[0].id: 7",)),
        (line(HEADER) + line({**ENDPOINT, "port": 11113}), ("port 11113 is not in this scan",)),
        (line(HEADER) + line({**ENDPOINT, "port": 8042}), ("port 8042 is not in this scan",)),
        (line({**HEADER, "ports": "104"}) + line(ENDPOINT), ("port 104 is not in this scan",)),
        (line(HEADER) + line(summary(duration_s="x")), ("line 2: summary.duration_s: 'x'",)),
        (line(HEADER) + line(summary(exposure=[1])), ("summary.exposure: [1] is not",)),
        (line(HEADER) + line(summary(findings={"a": -1})), ("summary.findings['a']: -1",)),
        (line(HEADER) + line({"record": "summary"}), ("summary.started_at: missing",)),
    ],
)
def test_malformed_reports_are_one_line(tmp_path, content, words):
    path = tmp_path / "report.jsonl"
    path.write_bytes(content)
    refused(path, *words)


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo", "device"])
def test_odd_files_are_refused_without_blocking(tmp_path, kind):
    path = {"missing": tmp_path / "none.jsonl", "directory": tmp_path, "device": Path("/dev/zero")}
    if kind == "fifo":
        path["fifo"] = tmp_path / "fifo"
        os.mkfifo(path["fifo"])  # open() for reading would wait for a writer, for ever
    words = {"missing": "does not exist", "directory": "Is a directory"}
    refused(path[kind], words.get(kind, "not a regular file"))
    with pytest.raises(ReportError):  # the dict reader reads by the same rules
        list(read_jsonl(path[kind]))


def test_the_file_name_is_shown_safely(tmp_path):
    path = tmp_path / "a\x1b[2Jb.jsonl"
    assert "\\x1b" in refused(path, "does not exist")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["record", "host", "port", "protocol", "status", "exposure", "findings", "duration_s"]
)
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def reads_or_fails(path: Path) -> None:
    message = ""
    try:
        scan = exposcan.read_report(path)
    except ReportError as exc:
        message = str(exc)
    else:
        assert scan.summary.endpoints_done == len(scan.results)
        assert all(isinstance(r, EndpointResult) for r in scan.results)
    assert "\n" not in message
    assert message.isprintable()


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path, data):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    reads_or_fails(path)


@SETTINGS
@given(
    lines=st.lists(
        st.one_of(
            JSON,
            st.dictionaries(FIELDS, JSON),
            st.builds(lambda f, v: {**ENDPOINT, f: v}, FIELDS, JSON),
            st.builds(lambda f, v: summary(**{f: v}), st.sampled_from(list(summary())), JSON),
        ),
        max_size=5,
    ),
    torn=st.binary(max_size=20).filter(lambda b: b"\n" not in b),
    text=st.text(string.printable + "\x1b\x85\u202e", max_size=12),
)
def test_random_records_after_a_good_header(tmp_path, lines, torn, text):
    path = tmp_path / "fuzz.jsonl"
    body = [line(HEADER)] + [json.dumps(r, allow_nan=True).encode() + b"\n" for r in lines]
    path.write_bytes(b"".join(body) + torn)
    reads_or_fails(path)
    path.write_bytes(line(HEADER) + line({**ENDPOINT, "ae_title": text}))
    reads_or_fails(path)


def test_read_report_is_public():
    assert "read_report" in exposcan.__all__
    assert "ReportError" in exposcan.__all__
    assert exposcan.read_report.__module__ == "exposcan.report.read"
    assert exposcan.ReportError is ReportError

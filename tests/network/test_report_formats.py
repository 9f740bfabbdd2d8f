"""Every report format carries the same verdicts; the terminal view renders them."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

import exposcan
from exposcan.engine import Progress
from exposcan.lab import free_port
from exposcan.report import FORMATS, ProgressLine, make_writer, render_summary


@pytest.fixture
async def report(scp_factory, write_scope):
    open_port = scp_factory("OPEN")
    scope = write_scope(["127.0.0.1"], [open_port, free_port()])
    return await exposcan.scan(scope, options=exposcan.ScanOptions(ae_attempts=1))


def render(report, fmt: str) -> str:
    stream = io.StringIO()
    writer = make_writer(fmt, stream)
    writer.start(report.header)
    for result in report.results:
        writer.endpoint(result)
    writer.finish(report.summary)
    return stream.getvalue()


def test_every_format_is_known():
    assert set(FORMATS) == {"jsonl", "json", "csv", "sarif", "html", "defectdojo"}


async def test_csv(report):
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert sorted(r["exposure"] for r in rows) == ["echo", "none"]
    echo = next(r for r in rows if r["exposure"] == "echo")
    assert echo["ae_title"] == "(any)"  # a random title got in: any title does
    assert "dicom-echo-unauthenticated" in echo["finding_ids"]


async def test_sarif(report):
    document = json.loads(render(report, "sarif"))
    assert document["version"] == "2.1.0"
    run = document["runs"][0]
    rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert "dicom-echo-unauthenticated" in rule_ids
    result = next(r for r in run["results"] if r["ruleId"] == "dicom-echo-unauthenticated")
    assert result["level"] == "warning"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
        "dicom://127.0.0.1:"
    )


async def test_html_escapes_and_shows_exposed(report):
    page = render(report, "html")
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    assert 'class="echo"' in page  # attributes are quoted and escaped
    # Evidence quotes escaped: the random called title that got in.
    assert re.search(r"&#x27;[A-Z0-9]{16}&#x27;", page)


async def test_json_and_jsonl_agree(report):
    document = json.loads(render(report, "json"))
    lines = [json.loads(line) for line in render(report, "jsonl").splitlines()]
    assert [e["exposure"] for e in document["endpoints"]] == [
        r["exposure"] for r in lines if r["record"] == "endpoint"
    ]


async def test_terminal_summary_and_progress(report):
    table = render_summary(report.results, report.summary)
    assert "(any)" in table
    assert "1 echo" in table
    assert "none" not in table.splitlines()[1]  # none rows hidden by default
    full = render_summary(report.results, report.summary, show_none=True)
    assert len(full.splitlines()) > len(table.splitlines())
    stream = io.StringIO()
    line = ProgressLine(stream, interval=0)
    line(Progress(total=4, done=1, in_flight=2, elapsed_s=1.0, by_exposure={"echo": 1}))
    line.clear()
    assert "1/4 endpoints (25%)" in stream.getvalue()
    assert "echo=1" in stream.getvalue()

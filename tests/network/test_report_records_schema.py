"""Real JSONL reports against the shipped JSON Schema (exposcan/data/report.schema.json):
a scan of the embedded lab (every exposure it shows), and a scan of an Orthanc imitation
whose /system names its host's DICOM port (an evidence record; a site label stamped on
every line), cut after its web endpoint and resumed (a resume record, two summaries).
Every line of each validates, and together they hold every record kind.

The schema's own drift checks (enums, fields, required fields) are in
tests/unit/test_report_schema.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web

import exposcan
from exposcan.lab import free_port, running_lab
from exposcan.schema import load_schema
from tests.support.orthanc_imitation import orthanc_naming
from tests.support.report_runs import cut_report, resume_into, scan_into

HOST = "127.0.0.1"
SITE = "Schema Test Site"
VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


def invalid(records: list[dict[str, Any]]) -> list[str]:
    """Each invalid line: its number, kind and the most relevant reason."""
    found = []
    for number, record in enumerate(records, 1):
        best = jsonschema.exceptions.best_match(VALIDATOR.iter_errors(record))
        if best is not None:
            where = "/".join(map(str, best.absolute_path))
            found.append(f"line {number} ({record.get('record')}) {where}: {best.message}")
    return found


async def test_a_scan_of_the_lab_validates_line_by_line(tmp_path: Path) -> None:
    out = tmp_path / "lab.jsonl"
    with running_lab() as lab:
        scope = tmp_path / "scope.toml"
        scope.write_text(lab.scope_toml(), encoding="utf-8")
        await scan_into(scope, out)
    records = lines_of(out)
    assert invalid(records) == []
    kinds = [r["record"] for r in records]
    assert kinds[0] == "scan"
    assert kinds[-1] == "summary"
    endpoints = [r for r in records if r["record"] == "endpoint"]
    assert len(endpoints) == len(lab.services)
    # the lab shows at least an exposed, a protected and a closed endpoint, with findings
    assert {"echo", "protected", "none"} <= {r["exposure"] for r in endpoints}
    assert any(r["findings"] for r in endpoints)
    # a drifted record fails: the same lines with one required field gone
    broken = [dict(r) for r in records]
    del broken[1]["probed_at"]
    assert invalid(broken)


@pytest.fixture
async def orthanc_scope(tmp_path: Path) -> AsyncIterator[Path]:
    dicom = free_port(HOST)
    runner = web.AppRunner(orthanc_naming(dicom))
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    try:
        web_port = int(runner.addresses[0][1])
        path = tmp_path / "orthanc.toml"
        path.write_text(
            "[authorisation]\n"
            'owner = "exposcan tests"\n'
            'reference = "TEST-SCHEMA"\n'
            f"expires = {(date.today() + timedelta(days=30)).isoformat()}\n"
            "[scope]\n"
            f'site = "{SITE}"\n'
            f'include = ["{HOST}"]\n'
            f"ports = [{dicom}]\n"
            f"web_ports = [{web_port}]\n",
            encoding="utf-8",
        )
        yield path
    finally:
        await runner.cleanup()


async def test_a_resumed_report_with_evidence_validates_line_by_line(
    orthanc_scope: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed.jsonl"
    await scan_into(orthanc_scope, out)
    first = out.read_text(encoding="utf-8").splitlines(keepends=True)
    kinds = [json.loads(text)["record"] for text in first]
    assert kinds == ["scan", "evidence", "endpoint", "endpoint", "summary"]
    # run 1 stopped after the web endpoint (header, evidence, endpoint), as SIGINT leaves it
    cut_report(out, keep=3, done=1)
    await resume_into(orthanc_scope, out)

    records = lines_of(out)
    assert invalid(records) == []
    assert {r["record"] for r in records} == {"scan", "endpoint", "evidence", "resume", "summary"}
    assert [r["record"] for r in records].count("summary") == 2
    assert all(r["site"] == SITE for r in records)
    assert len({r["scan_id"] for r in records}) == 1
    # and the report reads back as one scan, as the schema describes it
    assert len(exposcan.read_report(out).results) == 2

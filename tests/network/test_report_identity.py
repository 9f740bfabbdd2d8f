"""Identity and time in a report: one scan id in the header, on every line and kept by
--resume; when each endpoint was probed; the scope's site label and ranges in the header."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import exposcan
from exposcan.errors import ScopeError
from exposcan.lab import free_port
from exposcan.report.jsonl import JsonlWriter
from exposcan.report.resume import load_resume
from exposcan.scope import parse_scope

VERIFICATION = "1.2.840.10008.1.1"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def scope_path(scp_factory, write_scope, tmp_path):
    echo = scp_factory("ECHO-SCP")
    closed = free_port("127.0.0.1")
    path = write_scope(["127.0.0.1"], [echo, closed])
    text = path.read_text(encoding="utf-8").replace(
        "[scope]\n", '[scope]\nsite = "St  Elsewhere\tRadiology"\n'
    )
    path.write_text(text, encoding="utf-8")
    return path


async def test_every_line_names_the_scan_and_site_and_each_endpoint_when_probed(
    scope_path, tmp_path
):
    plan = await exposcan.prepare(scope_path)
    report = tmp_path / "scan.jsonl"
    before = datetime.now(UTC)
    with report.open("w", encoding="utf-8") as stream:
        await plan.run(JsonlWriter(stream))
    after = datetime.now(UTC)
    records = lines(report)
    header = records[0]
    scan_id = header["scan_id"]
    assert str(uuid.UUID(scan_id)) == scan_id
    assert header["site"] == "St Elsewhere Radiology"  # whitespace folded to one label
    assert header["scope"]["include"] == ["127.0.0.1"]
    assert header["scope"]["exclude"] == []
    assert {r["scan_id"] for r in records} == {scan_id}
    assert {r["site"] for r in records} == {"St Elsewhere Radiology"}
    endpoints = [r for r in records if r["record"] == "endpoint"]
    assert len(endpoints) == 2
    for record in endpoints:
        probed = datetime.fromisoformat(record["probed_at"])
        assert before - timedelta(seconds=1) <= probed <= after
        assert probed.utcoffset() == timedelta(0)
    read = exposcan.read_report(report)
    assert all(r.probed_at is not None for r in read.results)
    assert read.header["scan_id"] == scan_id


async def test_a_resumed_run_keeps_the_first_runs_scan_id(scope_path, tmp_path):
    plan = await exposcan.prepare(scope_path)
    report = tmp_path / "scan.jsonl"
    with report.open("w", encoding="utf-8") as stream:
        await plan.run(JsonlWriter(stream))
    first = lines(report)
    # Cut after the first endpoint, as a killed run leaves it.
    cut = [r for r in first if r["record"] != "summary"][:2]
    report.write_text("".join(json.dumps(r) + "\n" for r in cut), encoding="utf-8")
    resume = load_resume(report, plan.header(), targets=plan.targets)
    with report.open("a", encoding="utf-8") as stream:
        await plan.run(JsonlWriter(stream), resume=resume)
    records = lines(report)
    assert [r["record"] for r in records].count("resume") == 1
    assert {r["scan_id"] for r in records} == {first[0]["scan_id"]}


async def test_two_scans_have_two_ids(scope_path):
    plan = await exposcan.prepare(scope_path)
    assert plan.header()["scan_id"] != plan.header()["scan_id"]
    report = await exposcan.scan(scope_path)
    assert report.header["scan_id"]
    assert report.header["site"] == "St Elsewhere Radiology"
    assert all(r.probed_at is not None for r in report.results)


SCOPE = """
[authorisation]
owner = "o"
reference = "r"
expires = 2030-01-01
[scope]
include = ["127.0.0.1"]
"""


@pytest.mark.parametrize("value", ['""', "12", '"' + "x" * 65 + '"', '"a\\u0007b"', '["a"]'])
def test_a_site_that_is_not_a_short_printable_label_is_one_line(value):
    with pytest.raises(ScopeError) as caught:
        parse_scope(SCOPE.replace("[scope]\n", f"[scope]\nsite = {value}\n"))
    assert "site" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_site_changes_the_digest_and_no_site_keeps_the_old_one():
    plain = parse_scope(SCOPE)
    labelled = parse_scope(SCOPE.replace("[scope]\n", '[scope]\nsite = "A"\n'))
    assert plain.site is None
    assert labelled.site == "A"
    assert plain.digest != labelled.digest
    # A scope without a site keeps the digest it had before sites existed (its reports
    # still resume): the hash of its content as it was, with no "site" key.
    content = {
        "authorisation": plain.authorisation.to_dict(),
        "include": ["127.0.0.1"],
        "exclude": [],
        "ports": list(plain.ports),
        "web_ports": [],
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert plain.digest == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

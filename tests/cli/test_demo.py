"""`exposcan demo`: every exposure level from the embedded lab, a JSONL and an HTML report
in a temporary folder that is removed unless --keep, loopback only, a few seconds."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exposcan.lab import running_lab
from tests.support.cli_child import run

#: What the lab's synthetic studies carry (DICOM and web): none may reach any output.
SYNTHETIC = ("EXPOSCAN-DEMO", "DEMO^", "DEMO ALPHA", "DEMO^WEB")
#: A hang guard only, not a benchmark: the demo takes well under a second here.
HANG_GUARD_S = 30


def _demo(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = run("demo", *args, timeout=120)
    return proc, time.monotonic() - started


def _path(stdout: str, label: str) -> Path:
    match = re.search(rf"^{label}:\s+(\S+)$", stdout, re.MULTILINE)
    assert match is not None, stdout
    return Path(match.group(1))


@pytest.fixture(scope="module")
def plain() -> tuple[subprocess.CompletedProcess[str], float]:
    return _demo()


@pytest.fixture(scope="module")
def kept() -> Iterator[subprocess.CompletedProcess[str]]:
    proc, _ = _demo("--keep")
    yield proc
    if proc.returncode == 0:
        shutil.rmtree(_path(proc.stdout, "JSONL report").parent, ignore_errors=True)


def test_the_demo_shows_every_exposure_level(plain):
    proc, elapsed = plain
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("127.0.0.1:")]
    seen = sorted((row[1], row[2]) for row in rows)
    assert seen == [
        ("dimse", "echo"),
        ("dimse", "none"),
        ("dimse", "protected"),
        ("dimse", "query"),
        ("dimse", "store"),
        ("http", "query"),
    ]
    assert elapsed < HANG_GUARD_S


def test_the_demo_removes_its_folder_without_keep(plain):
    proc, _ = plain
    jsonl, html = _path(proc.stdout, "JSONL report"), _path(proc.stdout, "HTML report")
    assert jsonl.parent == html.parent
    assert jsonl.parent.name.startswith("exposcan-demo-")
    assert not jsonl.parent.exists()
    assert "--keep" in proc.stdout


def test_the_demo_keeps_jsonl_and_html_with_keep(kept):
    assert kept.returncode == 0, kept.stderr
    jsonl, html = _path(kept.stdout, "JSONL report"), _path(kept.stdout, "HTML report")
    assert jsonl.parent == html.parent
    assert jsonl.parent.is_dir()
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert records[0]["record"] == "scan"
    assert records[-1]["record"] == "summary"
    exposures = sorted(r["exposure"] for r in records if r["record"] == "endpoint")
    assert exposures == ["echo", "none", "protected", "query", "query", "store"]
    page = html.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "critical" in page.lower()
    # the command that opens it names the HTML file
    assert re.search(rf"^open it with: \S+ {re.escape(str(html))}$", kept.stdout, re.MULTILINE)


def test_no_synthetic_patient_reaches_any_output(plain, kept):
    proc, _ = plain
    jsonl, html = _path(kept.stdout, "JSONL report"), _path(kept.stdout, "HTML report")
    outputs = {
        "stdout": proc.stdout + kept.stdout,
        "stderr": proc.stderr + kept.stderr,
        "jsonl": jsonl.read_text(encoding="utf-8"),
        "html": html.read_text(encoding="utf-8"),
    }
    for name, text in outputs.items():
        for marker in SYNTHETIC:
            assert marker not in text, (name, marker)
    # the counts did reach the report: 3 DICOM matches, 1 study on the web page (limit=1)
    counts = sorted(
        (r["protocol"], r["matches"]["count"])
        for r in map(json.loads, outputs["jsonl"].splitlines())
        if r["record"] == "endpoint" and r.get("matches")
    )
    assert counts == [("dimse", 3), ("http", 1)]


async def test_each_lab_service_is_reported_as_it_expects_and_nothing_is_stored(tmp_path):
    """The lab's own ground truth, scanned through the library: each service's exposure is
    the one it was built to show, and no C-STORE, C-MOVE, C-GET or web retrieval arrived."""
    import exposcan

    with running_lab() as lab:
        scope = tmp_path / "scope.toml"
        scope.write_text(lab.scope_toml(), encoding="utf-8")
        report = await exposcan.scan(scope, options=lab.scan_options())
        forbidden = lab.forbidden.total
        assert lab.forbidden.web is not None
        web_requests = lab.forbidden.web.requests
    got = {(r.port, str(r.protocol)): str(r.exposure) for r in report.results}
    want = {(s.port, s.protocol): s.expected for s in lab.services}
    assert got == want
    assert {s.expected for s in lab.services} == {"none", "protected", "echo", "store", "query"}
    assert forbidden == 0
    assert web_requests > 0  # the web probe did talk to the lab's API
    assert all(r.host == "127.0.0.1" for r in report.results)


def _on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """The demo with stdout on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exposcan", "demo", *args],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "error", **env},
    )
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:  # read as it writes: a full pty buffer would block the child
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        assert proc.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_the_demo_on_a_terminal_is_coloured_unless_asked_not_to():
    # NO_COLOR set but empty does not count (https://no-color.org)
    assert "\x1b[" in _on_a_terminal(env={"NO_COLOR": ""})
    assert "\x1b[" not in _on_a_terminal(env={"NO_COLOR": "1"})
    assert "\x1b[" not in _on_a_terminal("--no-color", env={"NO_COLOR": ""})

"""docs/notebook.md runs as written, and the library prints nothing by itself.

The doc's ```python blocks are run in a child process as Jupyter runs cells: one
namespace, top-level ``await`` compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT``, one event
loop, in a fresh directory. Its code starts the embedded lab on 127.0.0.1 itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "notebook.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)

#: Runs each block of the JSON list in argv[1] as a notebook cell.
CELL_RUNNER = """
import ast, asyncio, json, sys
cells = json.loads(open(sys.argv[1], encoding="utf-8").read())
loop = asyncio.new_event_loop()
namespace = {"__name__": "__main__"}
for index, cell in enumerate(cells):
    code = compile(cell, f"notebook.md[{index}]", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        loop.run_until_complete(result)
loop.close()
"""


def _child(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )


def test_the_notebook_doc_runs_as_written(tmp_path: Path):
    cells = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(cells) >= 6
    assert any("await exposcan.scan" in c for c in cells)
    (tmp_path / "cells.json").write_text(json.dumps(cells), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    proc = _child(["-c", CELL_RUNNER, str(tmp_path / "cells.json")], work)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"^<ScanReport 6 endpoints, 4 exposed, scan [0-9a-f]{4}\u2026, ", out, re.M)
    assert (
        "<Summary 6/6 endpoints, 4 exposed (none 1, protected 1, echo 1, store 1, query 2)" in out
    )
    assert re.search(r"^<EndpointResult 127\.0\.0\.1:\d+ http query \(critical\)", out, re.M)
    assert re.search(r"^    <Finding dicom-storage-accepted high: ", out, re.M)
    assert "{'echo': 1, 'none': 1, 'protected': 1, 'query': 2, 'store': 1}" in out
    assert "demo lab: 0 new findings, 0 findings resolved, 0 new exposures" in out
    assert "{'critical': 0, 'high': 0, 'medium': 0, 'low': 0, 'info': 0}" in out
    # the progress display was asked for: its last line (text, as stderr is no terminal)
    assert proc.stderr.splitlines()[-1].startswith("exposcan: 6/6 endpoints, 4 exposed (")
    assert (
        (work / "scan.html")
        .read_text(encoding="utf-8")
        .lstrip()
        .lower()
        .startswith("<!doctype html")
    )
    assert (
        json.loads((work / "scan.jsonl").read_text(encoding="utf-8").splitlines()[-1])["record"]
        == "summary"
    )


SILENT_SCAN = """
import asyncio, pathlib, exposcan
from exposcan.lab import running_lab

async def main():
    with running_lab() as lab:
        scope = pathlib.Path("scope.toml")
        # 3 days: within 14, so the library has a warning to give (and must keep it)
        scope.write_text(lab.scope_toml(days=3), encoding="utf-8")
        report = await exposcan.scan(scope, options=lab.scan_options())
        async for _ in exposcan.scan_iter(scope, options=lab.scan_options()):
            pass
        exposcan.read_report  # reading needs nothing configured either
    assert report.summary.exposed == 4, report.summary

asyncio.run(main())
"""


def test_the_library_prints_nothing_unless_logging_is_configured(tmp_path: Path):
    """A fresh interpreter, structlog never configured: a scan of the lab (every exposure
    level, DICOM and web) under an authorisation about to expire (a warning the library
    logs) writes nothing to stdout or stderr."""
    proc = _child(["-c", SILENT_SCAN], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout, proc.stderr) == ("", "")


def test_a_configured_structlog_does_hear_the_library(tmp_path: Path):
    """The silence is "until configured", not "never": the same scan, after the caller
    configures structlog, logs the expiry warning (so the test above is not passing merely
    because nothing is ever logged)."""
    configured = (
        "import logging, structlog\n"
        "structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))\n"
        + SILENT_SCAN
    )
    proc = _child(["-c", configured], tmp_path)
    assert proc.returncode == 0, proc.stderr
    # structlog's default printer writes to stdout: once per scan call
    assert proc.stdout.count("authorisation_expires_soon") == 2, proc.stdout

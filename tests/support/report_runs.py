"""Real JSONL reports for tests that read them (diff, the schema): a scan of a scope into
a file, and a resumed report (a run cut as an interrupted one leaves it, then a real
``--resume``: two runs, two summaries)."""

from __future__ import annotations

import json
from pathlib import Path

import exposcan
from exposcan.report.jsonl import JsonlWriter
from exposcan.report.resume import load_resume
from exposcan.report.writer import open_output

#: Loopback peers started by the test: no need for the polite defaults.
FAST = exposcan.ScanOptions(limits=exposcan.Limits(rate=200, per_host_rate=200))


async def scan_into(scope: Path, out: Path, options: exposcan.ScanOptions = FAST) -> None:
    plan = await exposcan.prepare(scope, options=options)
    with out.open("w", encoding="utf-8") as stream:
        await plan.run(JsonlWriter(stream))


def cut_report(out: Path, *, keep: int, done: int) -> None:
    """Keep the first ``keep`` lines of a finished report, then a summary saying the run
    was interrupted after ``done`` endpoints (as SIGINT leaves it) and a torn line (as a
    killed writer leaves one)."""
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    summary = {**json.loads(lines[-1]), "endpoints_done": done, "interrupted": True}
    cut = "".join(lines[:keep]) + json.dumps(summary) + "\n" + '{"record": "endp'
    out.write_text(cut, encoding="utf-8")


async def resume_into(scope: Path, out: Path, options: exposcan.ScanOptions = FAST) -> None:
    """Finish a cut report as ``exposcan scan --resume`` does."""
    plan = await exposcan.prepare(scope, options=options)
    state = load_resume(out, plan.header(), targets=plan.targets)
    output = open_output(out, resume_at=state.good_bytes)
    try:
        await plan.run(JsonlWriter(output.stream), resume=state)
    finally:
        output.close()

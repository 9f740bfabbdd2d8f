"""``exposcan demo``: start the lab, scan it with the real engine, write its reports.

The JSONL report (the source of truth) and an HTML report rendered from it go to a
temporary folder, which is removed at the end unless the caller keeps it; what the demo
prints says where they are and how to open the HTML page.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from exposcan.lab import Lab, running_lab

__all__ = ["DemoRun", "open_command", "run_demo"]


@dataclass(frozen=True, slots=True)
class DemoRun:
    folder: Path
    jsonl: Path
    html: Path
    kept: bool
    #: C-STORE/C-MOVE/C-GET or web retrievals the lab received (always 0)
    forbidden: int


def open_command(path: Path) -> str:
    """The shell command that opens ``path`` in a browser on this platform."""
    opener = {"darwin": "open", "win32": "start"}.get(sys.platform, "xdg-open")
    return f"{opener} {shlex.quote(str(path))}"


def _describe(lab: Lab, out: IO[str]) -> None:
    dimse = ", ".join(map(str, lab.ports))
    web = ", ".join(map(str, lab.web_ports))
    out.write(f"exposcan demo: lab on {lab.host}, DICOM ports {dimse}, web port {web}\n")
    for service in lab.services:
        out.write(
            f"  {service.name:<8} {service.protocol:<5} port {service.port:<5} "
            f"expect {service.expected}\n"
        )
    out.write("\n")


async def run_demo(out: IO[str], *, colour: bool = False, keep: bool = False) -> DemoRun:
    """Start the lab, scan it, print the summary and where the reports are, stop the lab.

    The folder holding the reports is removed before returning unless ``keep``."""
    from exposcan.report import make_writer, render_summary
    from exposcan.report.read import read_report
    from exposcan.results import EndpointResult
    from exposcan.scan import prepare

    folder = Path(tempfile.mkdtemp(prefix="exposcan-demo-"))
    try:
        with running_lab() as lab:
            scope_path = folder / "scope.toml"
            scope_path.write_text(lab.scope_toml(), encoding="utf-8")
            jsonl, html = folder / "report.jsonl", folder / "report.html"
            _describe(lab, out)
            plan = await prepare(scope_path, options=lab.scan_options())
            results: list[EndpointResult] = []
            with jsonl.open("w", encoding="utf-8") as stream:
                summary = await plan.run(make_writer("jsonl", stream), keep=results)
            # The lab's servers run in threads; give them the loop's attention.
            await asyncio.sleep(0)
            forbidden = lab.forbidden.total
        # As a notebook would: the JSONL read back, rendered through the public API.
        read_report(jsonl).write(html, format="html")
        out.write(render_summary(results, summary, show_none=True, colour=colour) + "\n\n")
        out.write(f"JSONL report: {jsonl}\nHTML report:  {html}\n")
        if keep:
            out.write(f"open it with: {open_command(html)}\n")
        else:
            out.write(
                f"(the folder {folder} is removed now; "
                "run `exposcan demo --keep` to keep it and open the HTML report)\n"
            )
        out.flush()
        return DemoRun(folder, jsonl, html, keep, forbidden)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)

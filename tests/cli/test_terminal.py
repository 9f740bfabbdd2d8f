"""The terminal view, on a real pseudo-terminal: the progress line never shares a row with
a report written to the same screen; NO_COLOR and --no-color mean no colour escape at all;
--quiet says nothing for a clean scan; the table fits COLUMNS; Ctrl-C prints the summary
so far and the command that resumes, and running that command resumes (its progress and
table counting what the first run did)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from datetime import date, timedelta

import pytest

import exposcan
from exposcan.lab import free_port, running_lab
from exposcan.report import read_jsonl
from tests.support.cli_child import FAST
from tests.support.oddfiles import RUN_TIMEOUT, HoldingPeer, wait_for

LATER = date.today() + timedelta(days=60)
SGR = re.compile(r"\x1b\[[0-9;]*m")
_ESCAPE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")


class PtyRun:
    """``python -m exposcan ARGS`` with stderr (and, with ``stdout_on_pty``, stdout) on a
    new pseudo-terminal of ``columns``; what the terminal received is in :attr:`raw`."""

    def __init__(
        self,
        *args: str,
        stdout_on_pty: bool = False,
        env: dict[str, str] | None = None,
        columns: int = 120,
    ) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        environment = {**os.environ, "PYTHONWARNINGS": "error", **(env or {})}
        for name in ("NO_COLOR", "COLUMNS", "FORCE_COLOR"):
            if name not in (env or {}):
                environment.pop(name, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exposcan", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_on_pty else subprocess.DEVNULL,
            stderr=slave,
            env=environment,
        )
        os.close(slave)
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: every holder of the slave side closed it
                break
            if not chunk:
                break
            self._chunks.append(chunk)

    def wait(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        os.close(self._master)
        return code

    @property
    def raw(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")


def screen(raw: str) -> list[str]:
    """The rows a terminal shows for ``raw``: CR returns to the row's start, ESC[K erases
    to its end, colours are dropped; any other escape fails the test."""
    rows: list[str] = []
    row: list[str] = []
    col = i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\x1b":
            match = _ESCAPE.match(raw, i)
            assert match is not None, repr(raw[i : i + 12])
            if match.group(2) == "K":
                del row[col:]
            else:
                assert match.group(2) == "m", match.group()
            i = match.end()
            continue
        if char == "\r":
            col = 0
        elif char == "\n":
            rows.append("".join(row))
            row, col = [], 0
        else:
            if col < len(row):
                row[col] = char
            else:
                row.append(char)
            col += 1
        i += 1
    if row:
        rows.append("".join(row))
    return rows


@pytest.fixture
def lab_scope(tmp_path):
    with running_lab() as lab:
        path = tmp_path / "lab.toml"
        path.write_text(lab.scope_toml(days=60), encoding="utf-8")
        yield path


def test_progress_and_a_report_on_the_same_screen_never_share_a_row(lab_scope):
    run = PtyRun("scan", "--scope", str(lab_scope), *FAST, stdout_on_pty=True)
    assert run.wait() == 0, run.raw
    assert "ETA" in run.raw  # the progress line was drawn, in the middle of the report
    rows = screen(run.raw)
    records = [json.loads(row) for row in rows if row.startswith("{")]
    kinds = [r["record"] for r in records]
    assert kinds[0] == "scan"
    assert kinds[-1] == "summary"
    assert kinds.count("endpoint") == records[-1]["endpoints_done"] > 1
    for row in rows:
        assert "ETA" not in row, row  # erased around each record and at the end
        if '"record"' in row:
            assert row.startswith("{"), row
            assert row.endswith("}"), row


@pytest.mark.parametrize(
    ("env", "flag", "coloured"),
    [({}, (), True), ({"NO_COLOR": "1"}, (), False), ({}, ("--no-color",), False)],
)
def test_colour_only_without_no_color(lab_scope, tmp_path, env, flag, coloured):
    # -v after the subcommand: log lines too, which structlog colours on a terminal
    out = tmp_path / "r.jsonl"
    args = ("scan", "--scope", str(lab_scope), "-o", str(out), "-v", *flag, *FAST)
    run = PtyRun(*args, env=env)
    assert run.wait() == 0, run.raw
    assert "scan_started" in run.raw  # the -v log lines were shown
    assert "answered a stranger" in run.raw  # and the table
    assert bool(SGR.search(run.raw)) is coloured, run.raw[:2000]


def test_quiet_says_nothing_for_a_clean_scan(write_scope, tmp_path):
    scope = write_scope(["127.0.0.1"], [free_port()], expires=LATER)
    out = tmp_path / "r.jsonl"
    loud = PtyRun("scan", "--scope", str(scope), "-o", str(out))
    assert loud.wait() == 0, loud.raw
    assert "1 of 1 endpoints" in loud.raw  # without --quiet: the summary
    quiet = PtyRun("scan", "--scope", str(scope), "-o", str(out), "--quiet")
    assert quiet.wait() == 0, quiet.raw
    assert quiet.raw == ""
    assert [r["record"] for r in read_jsonl(out)][-1] == "summary"


def test_the_table_fits_columns(lab_scope, tmp_path):
    out = tmp_path / "r.jsonl"
    run = PtyRun("scan", "--scope", str(lab_scope), "-o", str(out), *FAST, env={"COLUMNS": "64"})
    assert run.wait() == 0, run.raw
    rows = screen(run.raw)
    assert any(row.startswith("endpoint") for row in rows), rows
    assert max(len(row) for row in rows) <= 64, rows


def test_ctrl_c_prints_the_resume_command_and_it_resumes(scp_factory, write_scope, tmp_path):
    holding = HoldingPeer("127.0.0.1")  # never answers: the scan is still running
    try:
        open_port = scp_factory("OPEN")
        scope = write_scope(["127.0.0.1"], [open_port, holding.port], expires=LATER)
        out = tmp_path / "weekly scan.jsonl"  # a space: the command must be quoted
        args = ("scan", "--scope", str(scope), "-o", str(out), "--timeout", "3", *FAST[:4])
        first = PtyRun(*args)
        assert wait_for(holding.request_arrived)
        assert wait_for(lambda: out.exists() and '"record":"endpoint"' in out.read_text())
        first.proc.send_signal(signal.SIGINT)
        assert first.wait(timeout=RUN_TIMEOUT) == 130, first.raw
        rows = screen(first.raw)
        assert "(interrupted)" in first.raw
        assert any("(any)" in row for row in rows), rows  # the summary so far
        hints = [r for r in rows if r.startswith("exposcan: resume with: ")]
        assert len(hints) == 1, rows
        words = shlex.split(hints[0].removeprefix("exposcan: resume with: "))
        assert words == ["exposcan", *args, "--resume"]
        assert rows[-1] == "exposcan: interrupted by SIGINT"

        started = time.monotonic()
        second = PtyRun(*words[1:])
        assert second.wait() == 0, second.raw
        assert time.monotonic() - started < 30
    finally:
        holding.close()
    report = exposcan.read_report(out)
    assert sorted(r.port for r in report.results) == sorted([open_port, holding.port])
    assert report.summary.endpoints_done == 2
    # The second run probed one endpoint; its progress and table count the first's too.
    assert "2/2 endpoints (100%)" in second.raw
    rows = screen(second.raw)
    assert any("(any)" in row for row in rows), rows
    assert any(row.startswith("2 of 2 endpoints") for row in rows), rows


def test_no_resume_command_for_a_report_on_stdout(tmp_path, write_scope):
    """Only a JSONL file can be resumed: for a report on stdout, no hint."""
    holding = HoldingPeer("127.0.0.1")
    try:
        scope = write_scope(["127.0.0.1"], [holding.port], expires=LATER)
        run = PtyRun("scan", "--scope", str(scope))
        assert wait_for(holding.request_arrived)
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(timeout=RUN_TIMEOUT) == 130
    finally:
        holding.close()
    assert "resume with" not in run.raw
    assert screen(run.raw)[-1] == "exposcan: interrupted by SIGINT"


# The view's pieces, without a child process.


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["scan", "--scope", "s.toml", "-o", "a b.jsonl"],
            "exposcan scan --scope s.toml -o 'a b.jsonl' --resume",
        ),
        (
            ["scan", "--scope", "s.toml", "-o", "r.jsonl", "--resume"],
            "exposcan scan --scope s.toml -o r.jsonl --resume",
        ),
        (
            ["-v", "scan", "--scope", "s.toml", "-o", "r.jsonl", "--resu"],
            "exposcan -v scan --scope s.toml -o r.jsonl --resu",
        ),
        (
            ["scan", "--scope", "$(rm -rf ~).toml", "-oA", "x"],
            "exposcan scan --scope '$(rm -rf ~).toml' -oA x --resume",
        ),
        (  # a broker's password is never printed
            ["scan", "--scope", "s.toml", "-oA", "x", "--broker", "redis://:hunter2@h:6379/0"],
            "exposcan scan --scope s.toml -oA x --broker 'redis://:***@h:6379/0' --resume",
        ),
        (
            ["scan", "--scope", "s.toml", "-oA", "x", "--broker=redis://u:hunter2@h/1"],
            "exposcan scan --scope s.toml -oA x '--broker=redis://u:***@h/1' --resume",
        ),
    ],
)
def test_resume_command_adds_resume_once_and_quotes(argv, expected):
    from exposcan.report.terminal import resume_command

    assert resume_command(argv) == expected
    assert shlex.split(expected)[1:].count("--resume") <= 1


def test_progress_counts_the_earlier_runs_and_estimates_the_rest():
    import io

    from exposcan.report.terminal import ProgressLine
    from exposcan.summary import Progress

    stream = io.StringIO()
    line = ProgressLine(stream, interval=0, previous=["echo", "none", "none", "query"], width=200)
    line(Progress(total=14, done=5, in_flight=3, elapsed_s=2.5, by_exposure={"echo": 1}))
    shown = screen(stream.getvalue())[-1]
    assert shown.startswith("9/14 endpoints (64%), 2.0/s, ETA 0:03, 3 exposed, 3 in flight")
    assert "query=1 echo=2 none=2" in shown
    assert not SGR.search(stream.getvalue())  # colour only when asked
    line.hide()
    assert "".join(screen(stream.getvalue())) == ""  # erased
    narrow = io.StringIO()
    ProgressLine(narrow, interval=0, width=30)(
        Progress(total=10**6, done=1, in_flight=64, elapsed_s=0.5, by_exposure={"none": 1})
    )
    assert len(screen(narrow.getvalue())[-1]) <= 29  # never wraps: CR would leave a row


@pytest.mark.parametrize("width", [40, 64, 80, 132])
def test_the_table_never_exceeds_its_width_and_keeps_peer_text_inert(width):
    from exposcan.report.terminal import render_summary
    from exposcan.results import EndpointResult
    from exposcan.summary import SummaryBuilder
    from exposcan.vocabulary import Exposure, Protocol, Status

    results = [
        EndpointResult(
            host=f"10.0.0.{i}",
            port=104 + i,
            protocol=Protocol.DIMSE,
            status=Status.SUCCESS,
            exposure=exposure,
            ae_title="[bold]X\x1b]0;owned\x07",
            detail="\u202eevil\x1b[2J " * 10,
        )
        for i, exposure in enumerate(Exposure)
    ]
    builder = SummaryBuilder(started_at="2026-01-01T00:00:00Z", total=len(results))
    for result in results:
        builder.add(result)
    summary = builder.build(finished_at="2026-01-01T00:00:01Z", duration_s=1, interrupted=False)
    for colour in (False, True):
        table = render_summary(results, summary, colour=colour, width=width)
        plain = SGR.sub("", table)
        assert not SGR.search(table) or colour
        assert "\x1b" not in plain
        assert "\x07" not in plain
        assert "\u202e" not in plain
        assert max(len(row) for row in plain.splitlines()) <= width
        rows = plain.splitlines()
        assert sum(row.startswith("10.0.0.") for row in rows) == len(Exposure) - 1  # none hidden
        if "ae title" in rows[0]:  # a narrow table drops the column
            assert "[bold]X" in plain  # markup stays text

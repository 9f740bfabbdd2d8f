"""Red team (issue 10, classes 1, 5, 6 and 8): breaks found by attacking the scope,
the authorisation's expiry and the CLI's input and output as an attacker and as a
careless user would. Each test failed on the code before its fix.

Only loopback is connected to (listeners the tests start themselves).
"""

from __future__ import annotations

import datetime
import errno
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import exposcan
from exposcan.errors import AuthorisationExpired
from exposcan.options import Limits, ScanOptions, Timeouts
from tests.support.fakes import FakeClock

FAST = Timeouts(connect=1, read=1, release=0.5, endpoint=2)


# --------------------------------------------------------------------------- expiry


async def test_an_endpoint_granted_its_first_connection_after_expiry_does_not_start(
    counting_listener: Any, write_scope: Any
) -> None:
    """Two hosts get their slots at once; the global rate (1 a second) makes the second
    wait for its first connection, and the authorisation ends meanwhile. Before the fix
    the expiry was judged only at the host slot, so the second host was connected to a
    second after the authorisation ended (with ``--rate 0.01``: minutes after) and the
    scan said it had finished."""
    hosts = ("127.0.0.1", "127.0.0.2")
    listener = counting_listener(hosts)
    clock = FakeClock()
    scope = write_scope(list(hosts), [listener.port], expires=clock.expires)

    def now() -> datetime.datetime:
        if listener.accepted:  # the first endpoint is in flight: the authorisation ends
            clock.expire()
        return clock.now

    options = ScanOptions(
        limits=Limits(concurrency=2, rate=1, per_host_rate=100), timeouts=FAST, ae_attempts=1
    )
    with pytest.raises(AuthorisationExpired, match="1 of 2 endpoints not started") as caught:
        await exposcan.scan(scope, options=options, clock=now)
    assert sorted({address for address, _ in listener.accepted}) == ["127.0.0.1"]
    assert [r.host for r in caught.value.report.results] == ["127.0.0.1"]
    assert caught.value.report.summary.stopped == "authorisation-expired"


# --------------------------------------------------------------------------- stderr and stdout


def _cli(*args: str, redirect: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI under bash with one redirection of its own (``2>&-``, ``2>/dev/full``)."""
    command = f'exec "$@" {redirect}'
    return subprocess.run(
        ["bash", "-c", command, "_", sys.executable, "-m", "exposcan", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize("redirect", ["2>/dev/full", "2>&-"])
def test_logs_that_cannot_be_written_neither_end_the_scan_nor_reach_the_report(
    counting_listener: Any, write_scope: Any, tmp_path: Path, redirect: str
) -> None:
    """``-vv`` with stderr on a full disk or closed: the log lines are dropped. Before the
    fix the first one raised out of the scan (exit 1, a report with no summary), and a
    closed stderr failed before anything (``isatty`` of None); structlog's PrintLogger
    would have printed to stdout, into the report, once that was passed."""
    listener = counting_listener()
    scope = write_scope(["127.0.0.1"], [listener.port])
    done = _cli(
        "-vv", "scan", "--scope", str(scope), "--timeout", "2", redirect=redirect, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["record"] for r in records] == ["scan", "endpoint", "summary"]
    assert records[-1]["interrupted"] is False
    assert len(listener.accepted) >= 1


def test_the_demo_with_stdout_closed_is_one_line(tmp_path: Path) -> None:
    done = _cli("demo", redirect=">&-", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "exposcan: error: cannot write the demo to stdout: it is closed\n"


# --------------------------------------------------------------------------- --resume


def test_resume_knows_a_finished_endpoint_in_any_spelling_of_its_address(
    counting_listener: Any, write_scope: Any, tmp_path: Path
) -> None:
    """A report edited to spell its host ``::ffff:127.0.0.1`` (accepted: the address
    reached is in the scan). Before the fix the skip key kept the spelling, so the
    finished endpoint was probed again and the summary counted two of a one-endpoint
    scan."""
    listener = counting_listener()
    scope = write_scope(["127.0.0.1"], [listener.port])
    report = tmp_path / "report.jsonl"
    args = ("scan", "--scope", str(scope), "--timeout", "2", "-o", str(report))
    first = _cli(*args, redirect="", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    connections = len(listener.accepted)
    assert connections >= 1
    records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [r["record"] for r in records] == ["scan", "endpoint", "summary"]
    records[1]["host"] = "::ffff:127.0.0.1"
    report.write_text("".join(json.dumps(r) + "\n" for r in records[:2]), encoding="utf-8")

    resumed = _cli(*args, "--resume", redirect="", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert len(listener.accepted) == connections  # nothing probed again
    records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [r["record"] for r in records] == ["scan", "endpoint", "resume", "summary"]
    assert records[-1]["endpoints_done"] == 1


# --------------------------------------------------------------------------- odd input files

_HEAD = '[authorisation]\nowner = "o"\nreference = "r"\nexpires = 2099-01-01\n[scope]\n'


@pytest.mark.parametrize(
    "body",
    [
        "include = " + "[" * 3000 + "]" * 3000 + "\nports = [104]\n",
        "include = []\nx = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
    ],
    ids=["arrays", "inline-tables"],
)
def test_a_deeply_nested_scope_file_is_one_line(body: str) -> None:
    """tomllib recurses per level: before the fix a RecursionError came out (exit 1 and
    a traceback from the CLI)."""
    with pytest.raises(exposcan.ScopeError) as caught:
        exposcan.parse_scope(_HEAD + body, source="s.toml")
    assert str(caught.value) == "scope file s.toml is nested too deeply to be a scope"


def test_a_deeply_nested_ae_title_file_is_one_line(tmp_path: Path) -> None:
    from exposcan.aetitles import load_ae_titles

    path = tmp_path / "titles.toml"
    path.write_text("[[title]]\nvalue = " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    with pytest.raises(exposcan.OptionError, match=r"invalid TOML: nested too deeply$"):
        load_ae_titles(str(path))


class _GoneTerminal(io.StringIO):
    """A terminal that went away mid-scan: every write is EIO."""

    def write(self, text: str) -> int:
        raise OSError(errno.EIO, "Input/output error")


def test_a_terminal_that_goes_away_silences_the_progress_line_only():
    from exposcan.engine import Progress
    from exposcan.report import ProgressLine

    line = ProgressLine(_GoneTerminal(), interval=0)
    progress = Progress(done=1, total=2, in_flight=1, elapsed_s=0.5, by_exposure={})
    line(progress)  # raised OSError before: out of the engine's progress callback
    line(progress)
    line.clear()


@pytest.mark.parametrize("value", ["sha256:" + "8c15" * 16, "\x1b[2J" * 30, "it's " * 20])
def test_a_long_value_in_a_message_keeps_its_quotes_balanced(value):
    from exposcan.decoding import show

    text = show(value)
    assert len(text) <= 40
    assert text[0] == text[-1]
    assert text[0] in "'\""
    assert text.isprintable()

"""SIGINT and SIGTERM end the command line within two seconds, in every state it can be in:
during the scan, during name resolution (asyncio.run used to wait for the executor thread),
while the report's sync thread is stuck, and while the main thread itself is stuck.

Each test runs the CLI through a small wrapper that makes one thing hang (no DNS query
leaves the machine: any name but the hanging one fails at once) and signals it there."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from exposcan.report import read_jsonl
from exposcan.shutdown import GRACE_S
from tests.support.oddfiles import RUN_TIMEOUT, HoldingPeer, env, wait_for

#: The promise: the process is gone this long after the signal.
PROMISE_S = 2.0

WRAPPER = """
import ipaddress, os, socket, sys, threading, time
marker, hang = sys.argv[1], sys.argv[2]
real = socket.getaddrinfo

def arrived():
    with open(marker, "a") as out:
        out.write("hanging\\n")

def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else str(host)
    if hang == "dns" and name == "slow.exposcan.test":
        arrived()
        time.sleep(120)  # a resolver that does not answer
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, "no DNS in tests") from None
    return real(host, *args, **kwargs)

socket.getaddrinfo = getaddrinfo
if hang == "fsync":  # a disk that never completes a sync
    def fdatasync(fd):
        arrived()
        threading.Event().wait()
    os.fdatasync = fdatasync
if hang == "read":  # the main thread stuck reading an input
    import exposcan.files
    def read_regular(path, *, limit):
        arrived()
        time.sleep(120)
    exposcan.files.read_regular = read_regular
from exposcan.cli import main
sys.exit(main(sys.argv[3:]))
"""


def start(tmp_path, hang: str, *args: str) -> tuple[subprocess.Popen[str], object]:
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, str(marker), hang, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    return proc, marker


def signal_and_wait(proc: subprocess.Popen[str], signum: int) -> tuple[float, str]:
    """Send ``signum``; how long until the process was gone, and its stderr."""
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=RUN_TIMEOUT)
    return time.monotonic() - sent, stderr


def assert_interrupted(proc, elapsed: float, stderr: str, signum: int, *, forced=False) -> None:
    """Gone in time, the signal's exit code, one line: the watchdog's (``forced``) only
    where nothing could return to the event loop."""
    assert elapsed < PROMISE_S, (elapsed, stderr)
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr
    line = f"exposcan: interrupted by {signal.Signals(signum).name}"
    if forced:
        line += f" (forced: not stopped after {GRACE_S:g} s)"
    assert stderr.splitlines() == [line]


@pytest.fixture
def holding():
    peer = HoldingPeer("127.0.0.1")  # never answers: the association stays in flight
    yield peer
    peer.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_during_name_resolution(signum, write_scope, tmp_path):
    scope = write_scope(["slow.exposcan.test"], [104])
    proc, marker = start(tmp_path, "dns", "scan", "--scope", str(scope))
    assert wait_for(marker.exists), "the lookup never started"
    elapsed, stderr = signal_and_wait(proc, signum)
    assert_interrupted(proc, elapsed, stderr, signum)


def test_during_the_scan(holding, write_scope, tmp_path):
    """The association in flight is aborted politely and the summary is written."""
    scope = write_scope(["127.0.0.1"], [holding.port])
    out = tmp_path / "report.jsonl"
    proc, _ = start(tmp_path, "none", "scan", "--scope", str(scope), "-o", str(out))
    assert wait_for(holding.request_arrived)
    elapsed, stderr = signal_and_wait(proc, signal.SIGINT)
    assert_interrupted(proc, elapsed, stderr, signal.SIGINT)
    assert holding.aborted_by_client()
    assert [r["record"] for r in read_jsonl(out)] == ["scan", "summary"]  # none finished


def test_while_the_sync_thread_is_stuck(holding, write_scope, tmp_path):
    """fdatasync never returns: each sync the writer waits for is given up after SYNC_WAIT_S,
    the lines are with the kernel, and SIGTERM still ends it all in time, summary written."""
    scope = write_scope(["127.0.0.1"], [holding.port])
    out = tmp_path / "report.jsonl"
    proc, marker = start(tmp_path, "fsync", "scan", "--scope", str(scope), "-o", str(out))
    assert wait_for(holding.request_arrived)
    assert marker.exists()
    elapsed, stderr = signal_and_wait(proc, signal.SIGTERM)
    assert_interrupted(proc, elapsed, stderr, signal.SIGTERM)
    assert holding.aborted_by_client()
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records[-1]["record"] == "summary"
    assert records[-1]["interrupted"] is True


def test_while_the_main_thread_is_stuck(write_scope, tmp_path):
    """Nothing returns to the event loop (an input read that never ends): the signal's
    watchdog ends the process with the signal's exit code."""
    scope = write_scope(["127.0.0.1"], [104])
    proc, marker = start(tmp_path, "read", "scan", "--scope", str(scope))
    assert wait_for(marker.exists)
    elapsed, stderr = signal_and_wait(proc, signal.SIGTERM)
    assert_interrupted(proc, elapsed, stderr, signal.SIGTERM, forced=True)


#: The console script's path, with the import of ``exposcan.cli`` (a few hundred
#: milliseconds on a real machine) held open so the signal lands inside it every time.
STARTUP_WRAPPER = """
import importlib.abc, sys, time
marker = sys.argv[1]

class SlowCli(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "exposcan.cli":
            with open(marker, "a") as out:
                out.write("importing\\n")
            time.sleep(30)
        return None

sys.meta_path.insert(0, SlowCli())
sys.argv = ["exposcan", *sys.argv[2:]]
from exposcan._entry import run
run()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_while_the_command_line_is_still_importing(signum, write_scope, tmp_path):
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", STARTUP_WRAPPER, str(marker), "scan", "--scope", "x.toml"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert wait_for(marker.exists), "the wrapper never reached the import"
    elapsed, stderr = signal_and_wait(proc, signum)
    assert_interrupted(proc, elapsed, stderr, signum)


def test_every_public_name_resolves_and_none_is_imported_early():
    code = (
        "import sys, exposcan\n"
        "heavy = ('exposcan.engine', 'aiohttp', 'pynetdicom')\n"
        "early = sorted(m for m in heavy if m in sys.modules)\n"
        "names = [n for n in exposcan.__all__ if getattr(exposcan, n) is None]\n"
        "print(early, names, sorted(exposcan.__all__) == sorted(dir(exposcan)))\n"
        # The submodule of the same name, once imported, must not shadow the coroutine.
        "import inspect, exposcan.scan, exposcan.cli\n"
        "print(inspect.iscoroutinefunction(exposcan.scan))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert proc.stdout.split("\n")[:2] == ["[] [] True", "True"], proc.stderr


def test_the_parser_imports_no_codec_and_no_engine():
    """``exposcan --version``, ``report`` and ``diff`` start without pydicom, numpy,
    pynetdicom or the engine: only ``scan`` (and the demo) import the engine, when they
    run, and the association's codec is exposcan's own (pynetdicom only for an odd AC)."""
    code = (
        "import sys, exposcan.cli\n"
        "exposcan.cli.build_parser()\n"
        "heavy = ('pydicom', 'pynetdicom', 'numpy', 'exposcan.engine', 'exposcan.scan')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "import exposcan.dicom\n"
        "print(exposcan.dicom.Association.__module__, 'pynetdicom' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert proc.stdout.split("\n")[:2] == ["[]", "exposcan.dicom.association False"], proc.stderr

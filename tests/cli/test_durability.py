"""The JSONL report survives kill -9; --resume finishes what was started, once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import exposcan
from exposcan.lab import free_port
from exposcan.report import read_jsonl
from tests.support.listeners import A_ABORT, bind_listeners
from tests.support.scope_files import scope_text

SILENT_HOSTS = 12
ADDRESSES = tuple(f"127.0.3.{i}" for i in range(1, SILENT_HOSTS + 1))
INCLUDE = ["127.0.3.1", "127.0.3.2/31", "127.0.3.4/30", "127.0.3.8/30", "127.0.3.12"]
#: A conversation that ended this long before the kill must be on disk: the scanner
#: has that long to classify it and write one line.
MARGIN = 0.75


class AbortingListener:
    """Loopback listeners served by threads (the scanner's event loop cannot delay them).

    Each connection: read the request, hold for ``hold[address]`` (else ``default_hold``)
    seconds, answer A-ABORT, then wait for the client to close; ``accepted`` and
    ``finished`` record (address, monotonic time). Holds may be changed between runs.
    """

    def __init__(self, addresses: tuple[str, ...], port: int, default_hold: float) -> None:
        self.port = port
        self.default_hold = default_hold
        self.hold: dict[str, float] = {}
        self.accepted: list[tuple[str, float]] = []
        self.finished: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector, self._servers = bind_listeners(addresses, port, backlog=64)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                address = conn.getsockname()[0]
                with self._lock:
                    self.accepted.append((address, time.monotonic()))
                threading.Thread(target=self._serve, args=(conn, address), daemon=True).start()

    def _serve(self, conn: socket.socket, address: str) -> None:
        try:
            conn.settimeout(2)
            conn.recv(4096)
            if self._stop.wait(self.hold.get(address, self.default_hold)):
                return
            conn.sendall(A_ABORT)
            while conn.recv(4096):  # until the client closes: the conversation is over
                pass
            with self._lock:
                self.finished.append((address, time.monotonic()))
        except OSError:
            pass
        finally:
            conn.close()

    def accepts(self) -> Counter[str]:
        with self._lock:
            return Counter(address for address, _ in self.accepted)

    def finished_before(self, moment: float) -> set[str]:
        with self._lock:
            return {address for address, at in self.finished if at < moment}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for server in self._servers:
            server.close()
        self._selector.close()


@pytest.fixture
def aborting_listener() -> Iterator[AbortingListener]:
    listener = AbortingListener(ADDRESSES, free_port(), default_hold=0.02)
    yield listener
    listener.close()


def scan_cmd(scope, out, *extra):
    return [
        sys.executable,
        "-m",
        "exposcan",
        "scan",
        "--scope",
        str(scope),
        "-o",
        str(out),
        "--concurrency",
        "4",
        "--rate",
        "50",
        "--per-host-rate",
        "50",
        *extra,
    ]


def run(cmd, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def endpoint_keys(path):
    return [(r["host"], r["port"]) for r in read_jsonl(path) if r["record"] == "endpoint"]


def strict_records(path: Path) -> list[dict]:
    """Every line of the file parses: no torn line anywhere, not even the last."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), text[-80:]
    return [json.loads(line) for line in text.splitlines()]


def header_on_disk(path: Path) -> bool:
    try:
        return path.read_bytes().startswith(b'{"record":"scan"') and b"\n" in path.read_bytes()
    except FileNotFoundError:
        return False


# kill point: (holds during the first run, when to kill)
KILL_POINTS = {
    # Nothing can finish (every host holds 5 s): kill once the header is written and the
    # first conversations are in flight.
    "after-header": ({}, 5.0),
    # One host answers at once, the rest hold 5 s: kill MARGIN after its conversation ended.
    "after-one-record": ({"127.0.3.1": 0.05}, 5.0),
    # Every host answers after 0.6 s (four at a time): kill MARGIN after the third ended,
    # with the second four just done and the last four in flight.
    "mid-scan": ({}, 0.6),
}


@pytest.mark.parametrize("kill_point", sorted(KILL_POINTS))
def test_kill_9_loses_no_finished_endpoint_and_resume_completes_once(
    kill_point, aborting_listener, write_scope, tmp_path
):
    listener = aborting_listener
    holds, default_hold = KILL_POINTS[kill_point]
    listener.hold, listener.default_hold = dict(holds), default_hold
    scope = write_scope(INCLUDE, [listener.port])
    out = tmp_path / "report.jsonl"

    def ready() -> bool:
        if kill_point == "after-header":
            return header_on_disk(out) and bool(listener.accepts())
        wanted = 1 if kill_point == "after-one-record" else 3
        return len(listener.finished_before(time.monotonic() - MARGIN)) >= wanted

    proc = subprocess.Popen(scan_cmd(scope, out, "--timeout", "10"), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not ready() and proc.poll() is None:
            time.sleep(0.01)
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL  # killed mid-scan, not finished
    records = list(read_jsonl(out))  # every complete line parses; a torn last one is skipped
    assert records[0]["record"] == "scan"
    assert "summary" not in [r["record"] for r in records]
    before = endpoint_keys(out)
    assert len(set(before)) == len(before)
    on_disk = {host for host, _ in before}
    finished = listener.finished_before(killed_at - MARGIN)
    assert finished <= on_disk, f"finished before the kill but lost: {finished - on_disk}"
    assert on_disk <= set(listener.accepts())
    if kill_point == "after-header":
        assert before == []
    elif kill_point == "after-one-record":
        assert on_disk == {"127.0.3.1"}
    else:
        assert 3 <= len(before) < SILENT_HOSTS

    listener.hold, listener.default_hold = {}, 0.02
    resumed = run(scan_cmd(scope, out, "--timeout", "5", "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    records = strict_records(out)
    keys = endpoint_keys(out)
    assert sorted(keys) == sorted((a, listener.port) for a in ADDRESSES)  # none missed or twice
    assert [r["record"] for r in records].count("resume") == 1
    summary = records[-1]
    assert summary["record"] == "summary"
    assert summary["endpoints_done"] == SILENT_HOSTS
    assert summary["exposure"]["protected"] == SILENT_HOSTS
    accepts = listener.accepts()
    for host in on_disk:  # finished before the kill: never probed again
        assert accepts[host] == 1, (host, accepts[host])
    for host in set(ADDRESSES) - on_disk:  # in flight at the kill at most once, then resumed
        assert 1 <= accepts[host] <= 2, (host, accepts[host])


def test_resume_past_a_torn_last_line(aborting_listener, write_scope, tmp_path):
    """A real report cut after two endpoints, with a torn line after them (a kill -9 in
    the middle of a write): --resume drops the torn bytes and finishes the rest, once."""
    hosts = ADDRESSES[:4]
    scope = write_scope(["127.0.3.1/32", "127.0.3.2/31", "127.0.3.4/32"], [aborting_listener.port])
    out = tmp_path / "report.jsonl"
    first = run(scan_cmd(scope, out, "--timeout", "5"))
    assert first.returncode == 0, first.stderr
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    assert [json.loads(line)["record"] for line in lines] == ["scan", *["endpoint"] * 4, "summary"]
    kept = {json.loads(line)["host"] for line in lines[1:3]}
    out.write_text("".join(lines[:3]) + '{"rec', encoding="utf-8")

    resumed = run(scan_cmd(scope, out, "--timeout", "5", "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    records = strict_records(out)
    assert [r["record"] for r in records] == [
        "scan",
        "endpoint",
        "endpoint",
        "resume",
        "endpoint",
        "endpoint",
        "summary",
    ]
    keys = endpoint_keys(out)
    assert sorted(keys) == sorted((h, aborting_listener.port) for h in hosts)
    assert records[-1]["endpoints_done"] == len(hosts)
    accepts = aborting_listener.accepts()
    assert {h: accepts[h] for h in hosts} == {h: 1 if h in kept else 2 for h in hosts}


def test_resume_of_another_scan_is_refused_and_sends_nothing(aborting_listener, tmp_path):
    """A real first run (its header holds the options); then resumes that differ in
    scope, ports, targets or a probe option are refused: exit 2, one line, the report
    untouched, no connection made."""
    port = aborting_listener.port
    other_port = free_port("127.0.3.1")  # free where the listener is: not its port
    scope_a = tmp_path / "a.toml"
    scope_a.write_text(scope_text(["127.0.3.1"], [port, other_port]), encoding="utf-8")
    scope_b = tmp_path / "b.toml"
    scope_b.write_text(scope_text(["127.0.3.1", "127.0.3.2"], [port]), encoding="utf-8")
    out = tmp_path / "report.jsonl"
    first = run(
        scan_cmd(scope_a, out, "--ports", str(port), "--timeout", "5", "--max-matches", "7")
    )
    assert first.returncode == 0, first.stderr

    header = strict_records(out)[0]
    assert header["record"] == "scan"
    assert header["scope"]["digest"] == exposcan.load_scope(scope_a).digest
    assert header["scope"]["reference"] == "TEST-1"
    assert (header["ports"], header["targets"], header["endpoints"]) == ([port], [], 1)
    options = header["options"]
    assert options["limits"]["concurrency"] == 4
    assert (options["limits"]["rate"], options["limits"]["per_host_rate"]) == (50, 50)
    assert options["timeouts"]["endpoint"] == 5
    assert (options["max_matches"], options["find"], options["ports"]) == (7, True, [port])
    report = out.read_bytes()
    accepted = sum(aborting_listener.accepts().values())
    assert accepted == 1

    refusals = [
        (scan_cmd(scope_b, out, "--ports", str(port), "--max-matches", "7"), "another scope"),
        (scan_cmd(scope_a, out, "--ports", f"{port},{other_port}", "--max-matches", "7"), "ports"),
        (
            scan_cmd(scope_a, out, "127.0.3.1", "--ports", str(port), "--max-matches", "7"),
            "targets",
        ),
        (scan_cmd(scope_a, out, "--ports", str(port)), "max_matches"),
    ]
    for cmd, words in refusals:
        proc = run([*cmd, "--resume"])
        assert proc.returncode == 2, (cmd, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("exposcan: error: cannot resume"), lines[0]
        assert words in lines[0], lines[0]
        assert out.read_bytes() == report
    assert sum(aborting_listener.accepts().values()) == accepted


def test_resume_needs_a_jsonl_output(write_scope):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "exposcan",
            "scan",
            "--scope",
            str(write_scope(["127.0.0.9"], [1])),
            "--resume",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "--resume needs --output" in proc.stderr


def test_torn_last_line_is_tolerated(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"record": "scan"}\n{"record": "endpoint", "host": "h", "port": 1}\n{"rec',
        encoding="utf-8",
    )
    assert [r["record"] for r in read_jsonl(path)] == ["scan", "endpoint"]

"""The command line: user errors are one line and exit 2; scans write the JSONL contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from exposcan.lab import free_port
from exposcan.report import read_jsonl


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exposcan", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("exposcan: error: ")
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert proc.stdout == ""


@pytest.fixture
def scope_file(write_scope) -> Path:
    return write_scope(["127.0.0.2"], [11112, 104])


def test_missing_scope_file(tmp_path):
    assert_user_error(run("scan", "--scope", str(tmp_path / "nope.toml")), "nope.toml")


def test_malformed_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[scope\ninclude = [", encoding="utf-8")
    assert_user_error(run("scan", "--scope", str(path)), "bad.toml")


def test_bad_cidr(write_scope):
    assert_user_error(
        run("scan", "--scope", str(write_scope(["10.0.0.0/33"], [104]))), "10.0.0.0/33"
    )


def test_expired_authorisation(write_scope):
    path = write_scope(["127.0.0.2"], [104], expires=date.today() - timedelta(days=1))
    assert_user_error(run("scan", "--scope", str(path)), "expired")


def test_missing_authorisation(tmp_path):
    path = tmp_path / "noauth.toml"
    path.write_text('[scope]\ninclude = ["127.0.0.2"]\n', encoding="utf-8")
    assert_user_error(run("scan", "--scope", str(path)), "authorisation")


def test_target_out_of_scope(scope_file):
    assert_user_error(run("scan", "127.0.0.3", "--scope", str(scope_file)), "127.0.0.3")


def test_bad_port_list(scope_file):
    assert_user_error(run("scan", "--scope", str(scope_file), "--ports", "104,abc"), "abc")


def test_port_not_in_scope(scope_file):
    assert_user_error(run("scan", "--scope", str(scope_file), "--ports", "8080"), "8080")


def test_non_numeric_rate(scope_file):
    assert_user_error(run("scan", "--scope", str(scope_file), "--rate", "fast"), "fast")


def test_unwritable_output(scope_file, tmp_path):
    out = tmp_path / "missing-dir" / "report.jsonl"
    assert_user_error(run("scan", "--scope", str(scope_file), "--output", str(out)), "report.jsonl")


def test_unknown_option(scope_file):
    assert_user_error(run("scan", "--scope", str(scope_file), "--frobnicate"), "frobnicate")


def test_out_of_scope_target_gets_no_packet(tmp_path, write_scope):
    """A listener on 127.0.0.1 sees nothing when the scope only holds 127.0.0.2."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        port = server.getsockname()[1]
        scope = write_scope(["127.0.0.2"], [port])
        assert_user_error(run("scan", "127.0.0.1", "--scope", str(scope)), "127.0.0.1")
        with pytest.raises(TimeoutError):
            server.accept()


def test_scan_writes_the_jsonl_contract(scp_factory, write_scope, tmp_path):
    open_port = scp_factory("OPEN")
    closed = free_port()
    scope = write_scope(["127.0.0.1"], [open_port, closed])
    out = tmp_path / "report.jsonl"
    proc = run("scan", "--scope", str(scope), "--output", str(out), "--timeout", "5")
    assert proc.returncode == 0, proc.stderr
    records = list(read_jsonl(out))
    assert [r["record"] for r in records] == ["scan", "endpoint", "endpoint", "summary"]
    header, *endpoints, summary = records
    assert header["scope"]["digest"].startswith("sha256:")
    assert header["ports"] == [open_port, closed] or sorted(header["ports"]) == sorted(
        [open_port, closed]
    )
    required = {
        "host",
        "port",
        "protocol",
        "status",
        "exposure",
        "severity",
        "ae_title",
        "findings",
        "fingerprint",
        "services",
        "matches",
        "tls",
        "duration_s",
    }
    for endpoint in endpoints:
        assert required <= endpoint.keys()
    by_port = {e["port"]: e for e in endpoints}
    assert by_port[open_port]["exposure"] == "echo"
    assert by_port[open_port]["ae_title"] == "ANY-SCP"
    assert by_port[closed]["status"] == "connection-refused"
    assert summary["exposure"]["echo"] == 1
    assert summary["endpoints_done"] == 2


def test_scan_to_stdout_as_json(scp_factory, write_scope):
    port = scp_factory("OPEN")
    proc = run("scan", "--scope", str(write_scope(["127.0.0.1"], [port])), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["endpoints"][0]["exposure"] == "echo"
    assert document["summary"]["exposed"] == 1


def test_demo_prints_echo_protected_and_none():
    proc = run("demo", timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("127.0.0.1:")]
    assert sorted(row[2] for row in rows) == ["echo", "none", "protected"]


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])
def test_interrupt_writes_summary_and_exits(signum, code, tmp_path, write_scope):
    """SIGINT/SIGTERM mid-scan: in-flight probes end, the summary record is written."""
    import signal
    import socket
    import time

    with socket.socket() as silent:  # accepts (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        scope = write_scope(["127.0.0.1"], [port])
        out = tmp_path / "report.jsonl"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exposcan",
                "scan",
                "--scope",
                str(scope),
                "-o",
                str(out),
                "--timeout",
                "30",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size == 0):
            time.sleep(0.05)
        time.sleep(0.5)  # the probe is now waiting on the silent peer
        proc.send_signal(signal.Signals(signum))
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    records = list(read_jsonl(out))
    assert records[0]["record"] == "scan"
    assert records[-1]["record"] == "summary"
    assert records[-1]["interrupted"] is True


def test_empty_scope(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text(
        '[authorisation]\nowner = "o"\nreference = "r"\nexpires = 2999-01-01\n'
        "[scope]\ninclude = []\n",
        encoding="utf-8",
    )
    assert_user_error(run("scan", "--scope", str(path)), "empty.toml")


def test_large_scope_needs_allow_large(write_scope):
    scope = write_scope(["127.0.0.0/8"], [104])
    assert_user_error(run("scan", "--scope", str(scope)), "--allow-large")


def test_large_scope_with_allow_large_is_planned_not_refused():
    """prepare() accepts it with allow_large; nothing is sent by preparing."""
    import asyncio

    import exposcan
    from tests.conftest import scope_text

    scope = exposcan.parse_scope(scope_text(["127.0.0.0/8"], [104]))
    plan = asyncio.run(exposcan.prepare(scope, allow_large=True))
    assert plan.total == 2**24


@pytest.mark.parametrize(
    ("option", "value"),
    [("--concurrency", "0"), ("--timeout", "soon"), ("--per-host-rate", "-1"), ("--ports", "0")],
)
def test_bad_numbers(scope_file, option, value):
    assert_user_error(run("scan", "--scope", str(scope_file), option, value), value)


def test_unreadable_ae_titles_file(scope_file, tmp_path):
    assert_user_error(
        run("scan", "--scope", str(scope_file), "--ae-titles", str(tmp_path / "none.txt")),
        "none.txt",
    )

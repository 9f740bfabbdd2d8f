"""The JSONL report survives kill -9; --resume finishes what was started, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from exposcan.report import read_jsonl

SILENT_HOSTS = 12


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


def endpoint_keys(path):
    return [(r["host"], r["port"]) for r in read_jsonl(path) if r["record"] == "endpoint"]


def test_kill_9_loses_no_finished_endpoint_and_resume_completes_once(
    counting_listener, write_scope, tmp_path
):
    """Hosts answer A-ABORT after 0.4 s: kill -9 lands mid-scan, with records on disk."""
    addresses = tuple(f"127.0.3.{i}" for i in range(1, SILENT_HOSTS + 1))
    listener = counting_listener(addresses, hold=0.4)
    scope = write_scope(
        ["127.0.3.1", "127.0.3.2/31", "127.0.3.4/30", "127.0.3.8/30", "127.0.3.12"],
        [listener.port],
    )
    out = tmp_path / "report.jsonl"
    proc = subprocess.Popen(scan_cmd(scope, out, "--timeout", "5"), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(endpoint_keys_safe(out)) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = endpoint_keys(out)  # every complete line parses; a torn last one is skipped
    assert 3 <= len(before) < SILENT_HOSTS
    assert len(set(before)) == len(before)

    resumed = subprocess.run(
        scan_cmd(scope, out, "--timeout", "5", "--resume"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    records = list(read_jsonl(out))
    keys = endpoint_keys(out)
    assert sorted(keys) == sorted((a, listener.port) for a in addresses)  # none missed, none twice
    assert [r["record"] for r in records].count("resume") == 1
    summary = records[-1]
    assert summary["record"] == "summary"
    assert summary["endpoints_done"] == SILENT_HOSTS
    assert summary["exposure"]["protected"] == SILENT_HOSTS
    # Finished endpoints were not probed again: one connection per host in all.
    assert len(listener.accepted) <= SILENT_HOSTS + 4  # at most the in-flight ones repeat


def endpoint_keys_safe(path):
    try:
        return endpoint_keys(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def test_resume_with_another_scope_is_refused(write_scope, tmp_path):
    out = tmp_path / "report.jsonl"
    first = write_scope(["127.0.0.9"], [104])
    header = {
        "record": "scan",
        "scope": {"digest": "sha256:0"},
        "ports": [104],
        "targets": [],
        "options": {},
    }
    out.write_text(json.dumps(header) + "\n", encoding="utf-8")
    proc = subprocess.run(
        scan_cmd(first, out, "--resume"), capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 2
    assert "another scope" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


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

"""Whole-document formats (JSON, SARIF, HTML, CSV) are written beside the report and renamed
over it only when whole: kill -9 mid-scan leaves an earlier report byte for byte, and a
finished run replaces it at once. JSONL still appends to the real path as it goes."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from exposcan.files import STALE_AFTER_S, FileProblem, ReplacingFile, remove_abandoned
from exposcan.lab import free_port
from tests.support.oddfiles import RUN_TIMEOUT, HoldingPeer, cli, env, one_error_line, run, wait_for

EARLIER = b'{"an": "earlier report", "kept": true}\n'


def temps(directory: Path, name: str = "report.json") -> list[Path]:
    return sorted(directory.glob(f".{name}.exposcan-*.tmp"))


@pytest.fixture
def earlier(tmp_path) -> Path:
    path = tmp_path / "report.json"
    path.write_bytes(EARLIER)
    path.chmod(0o640)
    return path


@pytest.fixture
def holding():
    peer = HoldingPeer("127.0.0.1")  # never answers: the scan cannot finish while it holds
    yield peer
    peer.close()


@pytest.mark.parametrize("fmt", ["json", "sarif", "html", "csv"])
def test_kill_9_mid_scan_keeps_the_earlier_report(fmt, earlier, holding, write_scope):
    scope = write_scope(["127.0.0.1"], [holding.port])
    proc = subprocess.Popen(
        cli("scan", "--scope", str(scope), "--format", fmt, "-o", str(earlier)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env(),
    )
    try:
        assert wait_for(lambda: holding.request_arrived() and bool(temps(earlier.parent)))
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait(timeout=RUN_TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    assert earlier.read_bytes() == EARLIER
    assert stat.S_IMODE(earlier.stat().st_mode) == 0o640
    left = temps(earlier.parent)  # the killed run's own, clearly named, and nothing else
    assert [p.name.split("-")[1] for p in left] == [str(proc.pid)]


def test_a_finished_run_replaces_it_and_clears_abandoned_temporaries(earlier, write_scope):
    """A stale temporary file (no live writer holds its lock, older than a minute) is
    removed; one a live writer holds, or one just created, is left alone."""
    directory = earlier.parent
    stale, young, held = (directory / f".report.json.exposcan-{n}-0000.tmp" for n in (1, 2, 3))
    for path in (stale, young, held):
        path.write_bytes(b"partial")
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(stale, (old, old))
    os.utime(held, (old, old))
    with held.open("rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        scope = write_scope(["127.0.0.1"], [free_port()])  # refused at once: the scan ends
        proc = run(cli("scan", "--scope", str(scope), "--format", "json", "-o", str(earlier)))
    assert proc.returncode == 0, proc.stderr
    document = json.loads(earlier.read_text(encoding="utf-8"))
    assert document["summary"]["endpoints_done"] == 1
    assert stat.S_IMODE(earlier.stat().st_mode) == 0o640  # the earlier report's mode
    assert temps(directory) == [young, held]


def test_an_interrupted_run_writes_a_whole_document(earlier, holding, write_scope):
    """SIGINT: the summary is written (interrupted: true), as for JSONL; renamed into place."""
    scope = write_scope(["127.0.0.1"], [holding.port])
    proc = subprocess.Popen(
        cli("scan", "--scope", str(scope), "--format", "json", "-o", str(earlier)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env(),
    )
    try:
        assert wait_for(holding.request_arrived)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        proc.kill()
        proc.wait(timeout=RUN_TIMEOUT)
    assert proc.returncode == 130, stderr
    assert json.loads(earlier.read_text(encoding="utf-8"))["summary"]["interrupted"] is True
    assert temps(earlier.parent) == []


def test_a_failed_write_keeps_the_earlier_report(earlier, write_scope):
    """The new version cannot be written whole (RLIMIT_FSIZE: EFBIG at the end): one
    line, exit 2, the earlier report as it was, no temporary file left."""
    scope = write_scope(["127.0.0.1"], [free_port()])

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))

    proc = run(
        cli("scan", "--scope", str(scope), "--format", "json", "-o", str(earlier)),
        preexec_fn=limit,
    )
    one_error_line(proc, f"cannot write report to {earlier}", "File too large")
    assert earlier.read_bytes() == EARLIER
    assert temps(earlier.parent) == []


def test_a_symlink_stays_a_symlink(tmp_path, write_scope):
    target = tmp_path / "reports" / "latest.json"
    target.parent.mkdir()
    target.write_bytes(EARLIER)
    link = tmp_path / "report.json"
    link.symlink_to(target)
    scope = write_scope(["127.0.0.1"], [free_port()])
    proc = run(cli("scan", "--scope", str(scope), "--format", "json", "-o", str(link)))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    assert json.loads(target.read_text(encoding="utf-8"))["summary"]["endpoints_done"] == 1


def test_replacing_file_units(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(EARLIER)
    first = ReplacingFile(path)
    first.stream.write("new\n")
    first.discard()
    assert path.read_bytes() == EARLIER
    assert temps(tmp_path, "r.json") == []
    second = ReplacingFile(path)
    second.stream.write("new\n")
    assert path.read_bytes() == EARLIER  # nothing shows until the commit
    second.commit()
    assert path.read_bytes() == b"new\n"
    assert temps(tmp_path, "r.json") == []
    for device in ("/dev/null", "/dev/full"):  # never renamed over, whoever runs this
        with pytest.raises(FileProblem, match="character device"):
            ReplacingFile(device)
    with pytest.raises(FileProblem, match="Is a directory"):
        ReplacingFile(tmp_path)
    assert remove_abandoned(str(tmp_path), "r.json") == []


def test_a_long_name_still_gets_a_temporary_file(tmp_path):
    path = tmp_path / ("é" * 120 + ".json")  # 245 bytes: the temporary name must stay in 255
    replacing = ReplacingFile(path)
    replacing.stream.write("whole\n")
    replacing.commit()
    assert path.read_text(encoding="utf-8") == "whole\n"
    assert os.listdir(tmp_path) == [path.name]

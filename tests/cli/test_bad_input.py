"""Bad input and odd files: one line and exit 2 (a closed pipe: a quiet 141), never a hang
or a traceback, and nothing sent. Every run is bounded (tests.support.oddfiles.RUN_TIMEOUT)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
from pathlib import Path

import pytest

from exposcan.files import FileProblem, read_regular
from exposcan.lab import free_port
from exposcan.options import Timeouts
from exposcan.report import read_jsonl
from tests.support.oddfiles import (
    KIND_WORDS,
    KINDS,
    RUN_TIMEOUT,
    HoldingPeer,
    cli,
    env,
    make_odd,
    one_error_line,
    run,
    wait_for,
)


class Backlog:
    """A listener in the scope that never accepts: a connection would wait in its backlog."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.2", 0), backlog=16)
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                self.server.accept()[0].close()
            except BlockingIOError:
                return count
            count += 1


@pytest.fixture
def backlog():
    listener = Backlog()
    yield listener
    listener.server.close()


@pytest.fixture
def scope(write_scope, backlog) -> Path:
    return write_scope(["127.0.0.2"], [backlog.port])


@pytest.fixture
def keep():
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


# --- inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", ["--scope", "--ae-titles"])
def test_an_odd_input_is_refused_at_once(option, kind, scope, backlog, tmp_path, keep):
    """A FIFO used to block open() for ever (and the process then ignored SIGINT and
    SIGTERM); /dev/zero never ends; a directory or socket raised. Now: one line, at once."""
    odd = make_odd(kind, tmp_path / "odd", keep)
    args = (
        ["--scope", str(odd)] if option == "--scope" else ["--scope", str(scope), option, str(odd)]
    )
    line = one_error_line(run(cli("scan", *args)), KIND_WORDS[kind])
    assert ("scope file" if option == "--scope" else "AE title file") in line
    assert backlog.connections() == 0


def test_read_errors_are_one_phrase(tmp_path, monkeypatch):
    with pytest.raises(FileProblem, match="Input/output error"):
        read_regular("/proc/self/mem", limit=10)  # a regular file whose read fails (EIO)
    with pytest.raises(FileProblem, match="larger than 3 bytes"):
        read_regular(_write(tmp_path / "big", b"abcd"), limit=3)
    with pytest.raises(FileProblem, match="NUL"):
        read_regular("a\0b", limit=3)
    path = _write(tmp_path / "gone", b"abc")
    real_open = os.open

    def denied(*args, **kwargs):  # as root, chmod 000 would not stop us reading
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(FileProblem, match="Permission denied"):
        read_regular(path, limit=10)
    monkeypatch.setattr(os, "open", real_open)
    assert read_regular(path, limit=3) == b"abc"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("title", "words"),
    [
        ("\x1b]0;owned\x07", ("forbid", "'\\x1b]0;owned\\x07'")),
        ("ABCDEFGHIJKLMNOPQ", ("1 to 16",)),
        ("", ("1 to 16", "''")),  # was taken for "not given": the default title
        ("   ", ("1 to 16",)),
        ("A\u202eB", ("forbid", "\\u202e")),
        ("É", ("forbid",)),
    ],
)
def test_called_ae_oddities(title, words, scope, backlog):
    proc = run(cli("scan", "--scope", str(scope), "--called-ae", title))
    line = one_error_line(proc, *words)
    assert line.isprintable()
    assert backlog.connections() == 0


# --- outputs --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
@pytest.mark.parametrize("kind", ["fifo", "directory", "socket"])
def test_an_odd_output_is_refused_at_once(kind, fmt, scope, backlog, tmp_path, keep):
    odd = make_odd(kind, tmp_path / "odd", keep)
    proc = run(cli("scan", "--scope", str(scope), "-o", str(odd), "--format", fmt))
    one_error_line(proc, "cannot write report to", KIND_WORDS[kind])
    assert backlog.connections() == 0


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
@pytest.mark.parametrize("how", ["same", "dotted", "symlink", "hardlink", "ae-titles"])
def test_the_report_never_overwrites_an_input(how, fmt, scope, backlog, tmp_path):
    titles = _write(tmp_path / "titles.txt", b"PACS\n")
    target = {"same": scope, "dotted": scope.parent / "." / scope.name, "ae-titles": titles}.get(
        how, tmp_path / "link"
    )
    if how == "symlink":
        target.symlink_to(scope)
    elif how == "hardlink":
        os.link(scope, target)
    before = {scope: scope.read_bytes(), titles: titles.read_bytes()}
    args = cli("scan", "--scope", str(scope), "--ae-titles", str(titles), "-o", str(target))
    proc = run([*args, "--format", fmt])
    what = "the AE title file" if how == "ae-titles" else "the scope file"
    one_error_line(proc, f"it is {what}")
    assert {path: path.read_bytes() for path in before} == before
    assert backlog.connections() == 0


@pytest.mark.parametrize(
    ("fmt", "to"), [("jsonl", "-o"), ("json", "-o"), ("jsonl", ">"), ("csv", ">")]
)
def test_a_full_disk_is_one_line(fmt, to, write_scope):
    """/dev/full answers every write with ENOSPC. JSONL fails on its header, before any
    connection; a whole-document format when it writes at the end."""
    scope = write_scope(["127.0.0.1"], [free_port()])  # refused at once
    args = cli("scan", "--scope", str(scope), "--format", fmt)
    if to == "-o":
        proc = run([*args, "-o", "/dev/full"])
    else:
        with open("/dev/full", "w") as full:
            proc = run(args, stdout=full, stderr=subprocess.PIPE)
        proc.stdout = ""
    where = "/dev/full" if to == "-o" else "stdout"
    one_error_line(proc, f"cannot write report to {where}", "No space left on device (disk full)")


def test_the_demo_on_a_full_disk_or_a_closed_pipe():
    with open("/dev/full", "w") as full:
        proc = run(cli("demo"), stdout=full, stderr=subprocess.PIPE)
    proc.stdout = ""
    one_error_line(proc, "cannot write report to stdout", "disk full")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = run(cli("demo"), stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_dev_null_is_a_dry_run(write_scope):
    scope = write_scope(["127.0.0.1"], [free_port()])
    for fmt in ("jsonl", "json"):
        proc = run(cli("scan", "--scope", str(scope), "-o", "/dev/null", "--format", fmt))
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_a_closed_stdout_pipe_is_a_quiet_exit(fmt, write_scope):
    """`exposcan scan | head`: the reader went away. Exit 141 (128 + SIGPIPE, what the shell
    reports for a filter the signal killed), nothing on stderr, no traceback."""
    scope = write_scope(["127.0.0.1"], [free_port()])
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            cli("scan", "--scope", str(scope), "--format", fmt),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=RUN_TIMEOUT,
            env=env(),
            check=False,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (141, "")


#: The scanner's read deadline (Timeouts.read): a peer that never answers is aborted then.
READ_TIMEOUT = Timeouts().read


@pytest.fixture
def two_peers():
    """127.0.0.1 answers (A-ABORT) after a second, so a record is written then; 127.0.0.2
    never answers, so its association is in flight when that write fails."""
    port = free_port()  # one port, two addresses: two endpoints
    answers = HoldingPeer("127.0.0.1", answer_after=1.0, port=port)
    holds = HoldingPeer("127.0.0.2", port=port)
    yield answers, holds
    answers.close()
    holds.close()


def _holding_scope(write_scope, answers, holds):
    return write_scope(["127.0.0.1", "127.0.0.2"], [answers.port])


def _scan_args(scope, answers, holds):
    return cli("scan", "--scope", str(scope), "--timeout", "30")


def test_a_pipe_closed_mid_scan_aborts_in_flight_associations(two_peers, write_scope):
    answers, holds = two_peers
    scope = _holding_scope(write_scope, answers, holds)
    proc = subprocess.Popen(
        _scan_args(scope, answers, holds),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b'{"record":"scan"')
        assert wait_for(holds.request_arrived)
        proc.stdout.close()  # the reader goes away, as `head` does
        _, stderr = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        proc.kill()
        proc.wait(timeout=RUN_TIMEOUT)
    assert (proc.returncode, stderr) == (141, b"")
    assert wait_for(lambda: holds.ended() is not None, timeout=5)
    assert holds.aborted_by_client(), holds.first().hex()
    assert holds.lasted() < READ_TIMEOUT - 1  # stopped by the write, not by its own timeout


def test_a_write_error_mid_scan_is_one_line_and_aborts_politely(two_peers, write_scope, tmp_path):
    """The report may not grow past its header (RLIMIT_FSIZE: the next write fails with
    EFBIG): the scan stops at the first endpoint record, the association in flight is
    aborted politely, one line, exit 2; what was written stays resumable."""
    answers, holds = two_peers
    scope = _holding_scope(write_scope, answers, holds)
    out = tmp_path / "report.jsonl"
    header = len(_header_line(_scan_args(scope, answers, holds)))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (header, header))

    proc = run([*_scan_args(scope, answers, holds), "-o", str(out)], preexec_fn=limit)
    one_error_line(proc, f"cannot write report to {out}", "File too large")
    assert holds.aborted_by_client(), holds.first().hex()
    assert holds.lasted() < READ_TIMEOUT - 1
    assert [r["record"] for r in read_jsonl(out)] == ["scan"]


def _header_line(args: list[str]) -> bytes:
    """The header these arguments write (its length does not depend on the time)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env())
    assert proc.stdout is not None
    try:
        return proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait(timeout=RUN_TIMEOUT)
        proc.stdout.close()


def test_one_writer_per_jsonl_report(two_peers, write_scope, tmp_path):
    """A second scan (or a --resume) into a report a live scan is writing is refused
    before it truncates anything: two writers would interleave their lines."""
    answers, holds = two_peers
    scope = _holding_scope(write_scope, answers, holds)
    out = tmp_path / "report.jsonl"
    first = subprocess.Popen(
        [*_scan_args(scope, answers, holds), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env(),
    )
    try:
        assert wait_for(holds.request_arrived)
        written = out.read_bytes()
        assert written.startswith(b'{"record":"scan"')
        for extra in ((), ("--resume",)):
            second = run([*_scan_args(scope, answers, holds), "-o", str(out), *extra])
            one_error_line(second, "another exposcan is writing it")
            assert out.read_bytes().startswith(written)
    finally:
        first.kill()
        first.wait(timeout=RUN_TIMEOUT)

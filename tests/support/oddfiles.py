"""Helpers for the bad-input, signal and atomic-output tests: odd files, the CLI in a
subprocess (every call bounded in time), and a loopback peer that holds associations."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.support.listeners import A_ABORT

#: The longest any one CLI run in these tests may take.
RUN_TIMEOUT = 20

KINDS = ("fifo", "directory", "device", "socket", "missing")
KIND_WORDS = {
    "fifo": "FIFO",
    "directory": "Is a directory",
    "device": "character device",
    "socket": "socket",
    "missing": "No such file or directory",
}


def make_odd(kind: str, path: Path, keep: list[Any]) -> Path:
    """A file of ``kind`` at ``path`` (or /dev/zero for a device); sockets kept open in ``keep``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        return Path("/dev/zero")  # reading it never ends
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.listen()
        keep.append(server)
    return path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "exposcan", *args]


def run(cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    if "stdout" not in kwargs and "stderr" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run(
        list(cmd), text=True, timeout=RUN_TIMEOUT, check=False, env=env(), **kwargs
    )


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "error"}


def one_error_line(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, one line on stderr, no traceback, nothing on stdout."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("exposcan: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert proc.stdout == ""
    return lines[0]


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def whole_pdu(data: bytes) -> int:
    """Length of the first PDU in ``data`` if it is all there, else 0 (PS3.8 §9.3.1)."""
    if len(data) < 6:
        return 0
    length = 6 + int.from_bytes(data[2:6], "big")
    return length if len(data) >= length else 0


class HoldingPeer:
    """A loopback listener served by its own threads. Each connection: keep every byte
    received; after ``answer_after`` seconds (``None``: never) send A-ABORT; then read until
    the client closes. ``conversations`` holds (bytes received, how it ended) per connection;
    the methods look at the latest.
    Every thread ends within 30 s; :meth:`close` stops them."""

    def __init__(
        self, address: str = "127.0.0.1", answer_after: float | None = None, port: int = 0
    ) -> None:
        self.server = socket.create_server((address, port))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.answer_after = answer_after
        self.conversations: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            record: dict[str, Any] = {"data": bytearray(), "ended": None, "at": time.monotonic()}
            with self._lock:
                self.conversations.append(record)
            thread = threading.Thread(target=self._serve, args=(conn, record), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, record: dict[str, Any]) -> None:
        started = time.monotonic()
        answered = self.answer_after is None
        with conn:
            conn.settimeout(0.05)
            while time.monotonic() - started < 30 and not self._stop.is_set():
                if not answered and time.monotonic() - started >= (self.answer_after or 0):
                    answered = True
                    with contextlib.suppress(OSError):
                        conn.sendall(A_ABORT)
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    record["ended"] = "reset"
                    return
                if not chunk:
                    record["ended"], record["lasted"] = "eof", time.monotonic() - started
                    return
                with self._lock:
                    record["data"] += chunk

    def first(self) -> bytes:
        """What the latest connection received (``first``: from the start)."""
        with self._lock:
            return bytes(self.conversations[-1]["data"]) if self.conversations else b""

    def request_arrived(self) -> bool:
        return whole_pdu(self.first()) > 0

    def aborted_by_client(self) -> bool:
        """The client's A-ABORT followed its A-ASSOCIATE-RQ, then it closed."""
        data = self.first()
        request = whole_pdu(data)
        return bool(request) and data[request:] == A_ABORT and self.ended() == "eof"

    def lasted(self) -> float:
        """Seconds from accept to the client's close, for the latest connection."""
        with self._lock:
            return float(self.conversations[-1].get("lasted", 1e9))

    def ended(self) -> str | None:
        with self._lock:
            return self.conversations[-1]["ended"] if self.conversations else None

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.server.close()

"""``exposcan worker`` (or ``scheduler``) child processes (the fixture ``workers``), each
stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_listening(self, timeout: float = 20, said: str = "worker listening on") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if said in self.text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"worker did not start: {self.text()[-2000:]}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(
        broker: str, *extra: str, env: dict[str, str] | None = None, command: str = "worker"
    ) -> Worker:
        log = tmp_path / f"{command}-{len(started)}.log"
        words = [sys.executable, "-m", "exposcan", command, "-vv", *extra]
        if broker:
            words += ["--broker", broker]
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                words,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, **(env or {})},
            )
        worker = Worker(process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait(timeout=10)

"""Ending the command line promptly: SIGINT and SIGTERM within two seconds, in every state.

The first signal cancels the main task: in-flight associations are aborted
politely as their tasks unwind (A-ABORT, PS3.8 §7.3), and the report's summary
is written. Three things could still hold the process after that, and each is
taken away here:

* asyncio.run's shutdown waits for the default executor, where ``getaddrinfo``
  runs, and the interpreter joins its threads at exit: a lookup the resolver
  holds for 30 s would hold the process as long. :class:`DaemonExecutor` runs
  that work in daemon threads that nobody waits for.
* A handler installed with ``loop.add_signal_handler`` only runs once the event
  loop runs again; one installed with :func:`signal.signal` (as asyncio.Runner
  does for SIGINT) runs as soon as the main thread returns from the system call
  the signal interrupted, even when the loop is stuck.
* Anything else (a disk that does not answer ``fsync``): a watchdog started by
  the first signal ends the process :data:`GRACE_S` after it, with the exit code
  of the signal; a second signal ends it at once.

Exit codes are the shell's for a death by that signal (128 + N): 130 SIGINT,
143 SIGTERM, and 141 (SIGPIPE) for a report whose reader went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import FrameType
from typing import Any

#: How long after the first signal the process may take to end by itself.
GRACE_S = 1.5
EXIT_SIGPIPE = 128 + signal.SIGPIPE
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    return 128 + signum


class DaemonExecutor(ThreadPoolExecutor):
    """The event loop's default executor (``getaddrinfo`` runs here), in daemon threads
    that neither ``asyncio.run`` nor the interpreter's exit waits for.

    A subclass only because ``loop.set_default_executor`` insists on one; it
    keeps its own bounded pool of threads, started on demand.
    """

    def __init__(self, max_workers: int = 8) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="exposcan-executor")
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._started = 0
        self._limit = max_workers
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._jobs.put((future, lambda: fn(*args, **kwargs)))
        with self._lock:
            if not self._idle.acquire(blocking=False) and self._started < self._limit:
                self._started += 1
                threading.Thread(target=self._work, name="exposcan-executor", daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            future, call = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    result = call()
                except BaseException as exc:  # handed to the awaiting task, as the stock pool does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Never waits: a lookup still running is abandoned with its daemon thread."""


class Interrupts:
    """SIGINT/SIGTERM for the command line; see the module's docstring."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}
        self._said = threading.Lock()
        self._line_written = False

    def install(self) -> None:
        """Take SIGINT and SIGTERM (from the main thread only; elsewhere: left as they are)."""
        for signum in _SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread: the caller's signals, not ours
                return

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
        self._previous.clear()

    def attach(self, task: asyncio.Task[Any]) -> None:
        """The task a signal cancels (the scan); its loop gets the daemon executor."""
        self._task = task
        self._loop = task.get_loop()
        self._loop.set_default_executor(DaemonExecutor())

    def say(self, line: str) -> None:
        """One line on stderr, once per run, whoever gets there first."""
        with self._said:
            if self._line_written:
                return
            self._line_written = True
        with contextlib.suppress(OSError):
            os.write(2, (line.rstrip("\n") + "\n").encode("utf-8", "replace"))

    def line(self, *, forced: bool = False) -> str:
        assert self.signum is not None
        name = signal.Signals(self.signum).name
        if forced:
            return f"exposcan: interrupted by {name} (forced: not stopped after {GRACE_S:g} s)"
        return f"exposcan: interrupted by {name}"

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # a second signal: no more waiting
            self.say(self.line(forced=True))
            _exit_now(exit_code(self.signum))
        self.signum = signum
        threading.Thread(target=self._watchdog, name="exposcan-watchdog", daemon=True).start()
        task, loop = self._task, self._loop
        if task is None or loop is None:
            raise KeyboardInterrupt  # before the event loop: unwind like Ctrl-C does
        task.cancel()
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(lambda: None)  # wake a select() with a long timeout

    def _watchdog(self) -> None:
        threading.Event().wait(GRACE_S)
        assert self.signum is not None
        self.say(self.line(forced=True))
        _exit_now(exit_code(self.signum))


def _exit_now(code: int) -> None:
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def silence_stdout() -> None:
    """After stdout failed (a closed pipe, a full disk): point it at /dev/null, so the
    interpreter's last flush of what is still buffered cannot fail (and print) again."""
    with contextlib.suppress(OSError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)

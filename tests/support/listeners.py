"""Raw TCP listeners on loopback addresses that record what reaches them: the fixtures
``listener_factory`` (scripted asyncio peers) and ``counting_listener`` (a thread of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from exposcan.lab import free_port


@dataclass
class Listener:
    """A TCP listener on loopback addresses that records what reaches it."""

    port: int
    accepted: list[tuple[str, float]] = field(default_factory=list)
    received: bytearray = field(default_factory=bytearray)
    open_now: dict[str, int] = field(default_factory=dict)
    max_open: dict[str, int] = field(default_factory=dict)


@pytest.fixture
async def listener_factory() -> AsyncIterator[Callable[..., Any]]:
    """Scripted raw-TCP peers: ``behaviour(reader, writer)`` runs per connection."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[Any]] = set()

    async def start(
        addresses: tuple[str, ...] = ("127.0.0.1",),
        behaviour: Callable[..., Any] | None = None,
        port: int | None = None,
    ) -> Listener:
        listener = Listener(port or free_port())

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            address = writer.get_extra_info("sockname")[0]
            listener.accepted.append((address, time.monotonic()))
            listener.open_now[address] = listener.open_now.get(address, 0) + 1
            listener.max_open[address] = max(
                listener.max_open.get(address, 0), listener.open_now[address]
            )
            try:
                if behaviour is not None:
                    await behaviour(reader, writer, listener)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                listener.open_now[address] -= 1
                writer.close()
                tasks.discard(task)

        for address in addresses:
            servers.append(await asyncio.start_server(handle, address, listener.port))
        return listener

    yield start
    for server in servers:
        server.close()
    for task in list(tasks):
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
    for server in servers:
        with contextlib.suppress(Exception):
            await server.wait_closed()


A_ABORT = b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00"  # PS3.8 Table 9-26, source 0


def bind_listeners(
    addresses: tuple[str, ...], port: int, *, backlog: int
) -> tuple[selectors.BaseSelector, list[socket.socket]]:
    """Non-blocking listening sockets on ``port`` of each loopback address, in one selector."""
    selector = selectors.DefaultSelector()
    servers = []
    for address in addresses:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(backlog)
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ)
        servers.append(server)
    return selector, servers


class CountingListener:
    """Loopback listeners in their own thread, so that accept times are not
    delayed by the scanner's event loop. Each connection: read the request,
    hold for ``hold`` seconds, answer A-ABORT, close."""

    def __init__(self, addresses: tuple[str, ...], port: int, hold: float) -> None:
        import threading

        self.port = port
        self.hold = hold
        self.accepted: list[tuple[str, float]] = []
        self.open_now: dict[str, int] = {}
        self.max_open: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector, self._sockets = bind_listeners(addresses, port, backlog=128)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import threading

        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                now = time.monotonic()
                address = conn.getsockname()[0]
                with self._lock:
                    self.accepted.append((address, now))
                    self.open_now[address] = self.open_now.get(address, 0) + 1
                    self.max_open[address] = max(
                        self.max_open.get(address, 0), self.open_now[address]
                    )
                threading.Thread(target=self._serve, args=(conn, address), daemon=True).start()

    def _serve(self, conn: Any, address: str) -> None:
        try:
            conn.settimeout(2)
            conn.recv(4096)
            time.sleep(self.hold)
            conn.sendall(A_ABORT)
        except OSError:
            pass
        finally:
            with self._lock:
                self.open_now[address] -= 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for server in self._sockets:
            server.close()
        self._selector.close()


@pytest.fixture
def counting_listener() -> Iterator[Callable[..., CountingListener]]:
    listeners: list[CountingListener] = []

    def start(
        addresses: tuple[str, ...] = ("127.0.0.1",), port: int | None = None, hold: float = 0.0
    ) -> CountingListener:
        listener = CountingListener(addresses, port or free_port(), hold)
        listeners.append(listener)
        return listener

    yield start
    for listener in listeners:
        listener.close()

"""TCP relays on loopback for tests: real peers under other addresses, ports and latencies.

A :class:`Relay` listens on loopback addresses and ports of its own (``127.0.14.1:11112``,
say) and copies every connection, both ways, to a peer already reachable on 127.0.0.1 (a
netns forwarder of ``tests/support/peers.py``). Two uses:

* **several hosts**: one port on several 127.0.14.x addresses, each relayed to a different
  real server, so that one scan over those addresses meets a different product per host;
* **a far site**: ``delay_s`` holds every chunk read from either side that long before it is
  written to the other, a one-way latency (each request-answer exchange then costs at
  least two delays), as ``tc qdisc ... netem delay`` would on a kernel that has
  ``sch_netem`` (this one has not). The TCP handshake with the relay itself is not delayed:
  the kernel completes it before ``accept``.

Every address is loopback (checked), every connection is bounded by :data:`IDLE_S` without
traffic and the relay holds at most :data:`MAX_CONNECTIONS` at once. The relay runs its own
event loop in a thread, so it serves a scan running in the test's loop or in a child
process alike, and :func:`relaying` always closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

CHUNK = 1 << 16
IDLE_S = 30.0
MAX_CONNECTIONS = 64
START_TIMEOUT_S = 5.0
PORT_TRIES = 20

Address = tuple[str, int]


@dataclass
class Relay:
    """Routes ``(listen host, port) -> (upstream host, port)``; counts what it relayed."""

    routes: Mapping[Address, Address]
    delay_s: float = 0.0
    #: connections accepted, by listening address
    connections: Counter[Address] = field(default_factory=Counter)
    #: chunks held ``delay_s`` before they were passed on (0 when ``delay_s`` is 0)
    delayed_chunks: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _servers: list[asyncio.Server] = field(default_factory=list)
    _open: int = 0

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Reading and writing are decoupled by a queue: a chunk read at t leaves at
        # t + delay_s whatever follows it, which is latency, not a bandwidth limit.
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            try:
                while data := await asyncio.wait_for(reader.read(CHUNK), IDLE_S):
                    queue.put_nowait((time.monotonic() + self.delay_s, data))
            finally:  # end of stream, idle, reset: the writer ends after what is queued
                queue.put_nowait((time.monotonic() + self.delay_s, b""))

        async def write() -> None:
            while True:
                due, data = await queue.get()
                if self.delay_s:
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                if self.delay_s:
                    self.delayed_chunks += 1
                writer.write(data)
                await writer.drain()

        reading = asyncio.ensure_future(read())
        try:
            await write()
        finally:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading

    async def _serve(
        self,
        upstream: Address,
        listen: Address,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.connections[listen] += 1
        if self._open >= MAX_CONNECTIONS:
            writer.close()
            return
        self._open += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*upstream), START_TIMEOUT_S
            )
        except (OSError, TimeoutError):
            self._open -= 1
            writer.close()
            return
        try:
            # Either side ending ends the relayed connection (after what was queued).
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            self._open -= 1
            for side in (writer, up_writer):
                side.close()
                with contextlib.suppress(Exception):
                    await side.wait_closed()

    async def _start(self) -> None:
        for listen, upstream in self.routes.items():

            async def serve(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                upstream: Address = upstream,
                listen: Address = listen,
            ) -> None:
                await self._serve(upstream, listen, reader, writer)

            self._servers.append(await asyncio.start_server(serve, *listen, reuse_address=True))

    async def _stop(self) -> None:
        for server in self._servers:
            server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _check_loopback(routes: Mapping[Address, Address]) -> None:
    for address in (a for pair in routes.items() for a, _ in pair):
        if not ipaddress.ip_address(address).is_loopback:
            pytest.fail(f"relay address {address} is not loopback")


@contextlib.contextmanager
def relaying(routes: Mapping[Address, Address], *, delay_s: float = 0.0) -> Iterator[Relay]:
    """Relay ``routes`` (loopback only) from a thread of its own until the block ends."""
    _check_loopback(routes)
    relay = Relay(dict(routes), delay_s)
    loop = asyncio.new_event_loop()
    relay._loop = loop
    thread = threading.Thread(target=loop.run_forever, name="test-relay", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(relay._start(), loop).result(START_TIMEOUT_S)
        yield relay
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(relay._stop(), loop).result(START_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_S)
        loop.close()


def shared_port(hosts: Sequence[str], preferred: int | None = None) -> int:
    """A TCP port free on every one of ``hosts`` (loopback addresses) at this moment:
    ``preferred`` when it is, else one the kernel picks for the first host."""
    candidates = [preferred] if preferred else []
    candidates += [0] * PORT_TRIES
    for candidate in candidates:
        held: list[socket.socket] = []
        try:
            port = candidate
            for host in hosts:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                # As the relay binds: a connection of an earlier run in TIME_WAIT does
                # not hold the port, a listener does.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                port = sock.getsockname()[1]
            return port
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    pytest.fail(f"no TCP port free on all of {list(hosts)} after {PORT_TRIES} tries")

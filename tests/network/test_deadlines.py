"""Waits a trickling peer cannot stretch: each ends at a deadline fixed when it starts.

The siblings of the release wait (tests/network/test_release.py): a per-read timer that every
arriving byte resets lets a peer that drips one byte just inside the timer hold the
wait until the endpoint deadline. Here peers drip the A-ASSOCIATE-AC, the C-ECHO-RSP,
the C-FIND responses after C-CANCEL, the TLS handshake (DICOM and HTTPS), and HTTP
headers and bodies; each wait must end near its own timeout, far from the endpoint
deadline. Bounds are generous: a correctness check, not a benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import probe_dimse
from exposcan.probes.web import make_web_session, probe_web
from exposcan.vocabulary import Status
from tests.support.badcerts import well_formed
from tests.support.hostile import FIND_CONTEXTS, Stream, hostile_peers
from tests.support.pdu import associate_ac, echo_rsp

HOST = "127.0.0.1"
TIMEOUTS = Timeouts(connect=1, read=1.0, release=0.5, endpoint=8)
OPTIONS = ScanOptions(timeouts=TIMEOUTS, ae_attempts=1)
#: One byte every DRIP seconds: far inside the read timeout, so a per-read timer
#: never fires, and far too slow for any PDU or header block to complete in time.
DRIP = 0.05
SLACK = 1.5

DICOM_DRIPS = {
    # The A-ASSOCIATE-AC, a byte at a time: the read deadline counts from the request.
    "drips-associate-ac": ([("recv",), ("repeat", associate_ac(), DRIP, True)], TIMEOUTS.read),
    # The C-ECHO-RSP, a byte at a time.
    "drips-echo-rsp": (
        [("recv",), ("send", associate_ac()), ("recv",), ("repeat", echo_rsp(), DRIP, True)],
        TIMEOUTS.read,
    ),
    # Matches until C-CANCEL, then pending responses a byte at a time, forever.
    "drips-after-cancel": (
        [
            ("recv",),
            ("send", associate_ac(contexts=FIND_CONTEXTS)),
            ("recv",),
            ("send", echo_rsp()),
            ("recv-find",),
            ("stream", Stream(until_cancel=True)),
            ("repeat", "pending", DRIP, True),
        ],
        TIMEOUTS.read,
    ),
}


@pytest.mark.parametrize("name", sorted(DICOM_DRIPS))
async def test_dicom_wait_is_not_stretched_by_a_drip(name):
    script, bound = DICOM_DRIPS[name]
    stats: dict[str, Counter[str]] = {}
    async with hostile_peers({name: script}, stats=stats) as ports:
        started = time.monotonic()
        observation = await probe_dimse(HOST, ports[name], OPTIONS)
        elapsed = time.monotonic() - started
    first = observation.first
    assert elapsed < bound + SLACK, (elapsed, first.status, first.detail)
    assert first.status is Status.IO_TIMEOUT, first.detail
    assert first.detail != "endpoint deadline reached"
    assert stats[name]["abort_seen"] == 1  # the live association was aborted
    assert stats[name]["bytes"] > 0
    if name == "drips-after-cancel":
        find = first.find
        assert find is not None
        assert find.cancelled
        assert find.count == OPTIONS.max_matches
        assert find.outcome == "timeout"


# --- TLS: a server that drips its handshake -----------------------------------------


@contextlib.asynccontextmanager
async def dripping_tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, Counter[str]]]:
    """A TLS server (MemoryBIO) that writes its handshake flight one byte per DRIP."""
    context = well_formed().server_context(tmp_path)
    stats: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        stats["connections"] += 1
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        pending = bytearray()

        async def pump() -> None:
            while data := await reader.read(4096):
                incoming.write(data)
                with contextlib.suppress(ssl.SSLWantReadError):
                    tls.do_handshake()
                pending.extend(outgoing.read())

        pumping = asyncio.create_task(pump())
        try:
            while not pumping.done():
                if pending:
                    writer.write(bytes(pending[:1]))
                    del pending[:1]
                    stats["bytes"] += 1
                    await writer.drain()
                await asyncio.sleep(DRIP)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            pumping.cancel()
            with contextlib.suppress(BaseException):
                await pumping
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(handle, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1], stats
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_dicom_tls_handshake_is_bounded_by_the_connect_timeout(tmp_path):
    async with dripping_tls_server(tmp_path) as (port, stats):
        options = ScanOptions(timeouts=TIMEOUTS, ae_attempts=1, tls_ports=(port,))
        started = time.monotonic()
        observation = await probe_dimse(HOST, port, options)
        elapsed = time.monotonic() - started
    assert observation.first.status is Status.CONNECTION_TIMEOUT
    assert elapsed < TIMEOUTS.connect + SLACK
    assert stats["bytes"] > 0


# --- HTTP: headers and bodies that trickle ------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _drip(writer: asyncio.StreamWriter, data: bytes, stats: Counter[str]) -> None:
    for byte in data:
        writer.write(bytes([byte]))
        stats["bytes"] += 1
        await writer.drain()
        await asyncio.sleep(DRIP)


def _headers_forever(stats: Counter[str]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await _drip(writer, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 4000, stats)

    return handle


def _body_forever(stats: Counter[str]) -> Handler:
    """The first answer's body trickles; later requests get a quick 404 (a short test)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if stats["connections"] > 1:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9999\r\n\r\n")
        await _drip(writer, b"b" * 9999, stats)

    return handle


@contextlib.asynccontextmanager
async def http_server(
    make: Callable[[Counter[str]], Handler],
) -> AsyncIterator[tuple[int, Counter[str]]]:
    stats: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()
    inner = make(stats)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        stats["connections"] += 1
        try:
            await inner(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(handle, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1], stats
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


#: One request may take its connect and read timeouts, however the answer trickles.
REQUEST_BOUND = TIMEOUTS.connect + TIMEOUTS.read + SLACK


@pytest.mark.parametrize("make", [_headers_forever, _body_forever], ids=["headers", "body"])
async def test_web_request_is_not_stretched_by_a_drip(make):
    async with http_server(make) as (port, stats), make_web_session(OPTIONS) as session:
        observation = await probe_web(HOST, port, OPTIONS, session=session)
    assert observation.requests, observation
    for request in observation.requests:
        assert request.duration_s < REQUEST_BOUND, (request.path, request.duration_s)
    first = observation.requests[0]
    assert first.error is Status.IO_TIMEOUT
    if make is _body_forever:
        assert first.status == 200  # the headers came; the body was cut at the deadline
        assert first.truncated
    assert stats["bytes"] > 0


async def test_https_handshake_is_bounded(tmp_path):
    async with dripping_tls_server(tmp_path) as (port, stats), make_web_session(OPTIONS) as session:
        observation = await probe_web(HOST, port, OPTIONS, session=session)
    assert observation.requests
    for request in observation.requests:
        assert request.duration_s < REQUEST_BOUND, (request.path, request.duration_s)
    assert stats["connections"] >= 1

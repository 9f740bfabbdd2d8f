"""Red team (issue 10): hostile peers on 127.0.0.1 that broke a promise, one test each.

Each peer here is raw asyncio, written for the one thing it breaks, and each test failed
on the code before its fix (the commit that adds it says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import exposcan
import exposcan.probes.web.scheme as web_scheme
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.vocabulary import Protocol, Status
from tests.conftest import scope_text

HOST = "127.0.0.1"
TIMEOUTS = Timeouts(connect=1, read=1, release=0.5, endpoint=4)
LIMITS = Limits(rate=1000, per_host_rate=1000)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def peer(handler: Handler) -> AsyncIterator[int]:
    """A TCP peer on 127.0.0.1 running ``handler`` per connection; stopped on exit."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(serve, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


def reset(writer: asyncio.StreamWriter) -> None:
    """Hang up with a TCP RST (SO_LINGER 0), as a device that refuses to talk does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def scan_web(tmp_path: Path, port: int) -> exposcan.EndpointResult:
    path = tmp_path / "scope.toml"
    path.write_text(scope_text([HOST], []) + f"web_ports = [{port}]\n", encoding="utf-8")
    options = ScanOptions(timeouts=TIMEOUTS, limits=LIMITS)
    report = await exposcan.scan(path, options=options)
    (result,) = report.results
    return result


# --------------------------------------------------------------------------- TLS reset


async def plain_http_resetting_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """A plain HTTP server on an HTTPS-first port: a TLS ClientHello (0x16) gets a reset,
    a GET gets an OHIF page (a viewer served without a login)."""
    first = await reader.readexactly(1)
    if first == b"\x16":
        reset(writer)
        return
    await reader.readuntil(b"\r\n\r\n")
    body = b"<html><head><title>OHIF Viewer</title></head></html>"
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()


async def resets_everything(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    await reader.read(1)
    reset(writer)


async def test_reset_during_tls_handshake_is_the_peers_doing_not_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A peer that resets the TLS handshake on an HTTPS-first port (443, 8443) ended as
    ``error`` ("Connection reset by peer": aiohttp's connect includes the handshake and
    the reset came as a ClientConnectorError), the scanner's own failure, and plain HTTP
    was never tried: a viewer served over HTTP on 8443 hid behind it. Now the reset is
    ``connection-closed`` and the other scheme is asked."""
    async with peer(plain_http_resetting_tls) as port:
        monkeypatch.setattr(web_scheme, "HTTPS_FIRST_PORTS", frozenset({port}))
        result = await scan_web(tmp_path, port)
    assert result.status is Status.SUCCESS, (result.status, result.detail)
    assert result.protocol is Protocol.HTTP
    assert "web-viewer-no-login" in {f.id for f in result.findings}

    async with peer(resets_everything) as port:
        monkeypatch.setattr(web_scheme, "HTTPS_FIRST_PORTS", frozenset({port}))
        result = await scan_web(tmp_path, port)
    assert result.status is Status.CONNECTION_CLOSED, (result.status, result.detail)

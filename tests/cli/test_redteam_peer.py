"""Red team (issue 10): hostile peers on 127.0.0.1 that broke a promise, one test each.

Each peer here is raw asyncio, written for the one thing it breaks, and each test failed
on the code before its fix (the commit that adds it says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

import exposcan
import exposcan.probes.web.scheme as web_scheme
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.vocabulary import Protocol, Status
from tests.support.scope_files import scope_text

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


# --------------------------------------------------------------------------- log.exception

#: The CLI's logging, console renderer (as on a terminal), and a probe that fails the way
#: a parsing bug would: its exception quotes what the peer sent (a ValueError with the
#: value). The engine logs it with ``log.exception("probe_failed")``.
EXCEPTION_DRIVER = r"""
import asyncio, sys
import exposcan
from exposcan import engine, logs

logs.configure(verbosity=0, json=sys.argv[1] == "json")

async def failing_probe(*args, **kwargs):
    raise ValueError("peer sent \x1b]0;owned\x07\x1b[2J\u202eevil\u2028fake line\r\x9b")

engine.probe_endpoint = failing_probe
report = asyncio.run(exposcan.scan(sys.argv[2]))
print(report.results[0].status, report.results[0].detail)
"""
#: C0 but newline, DEL, C1, bidi controls, line and paragraph separators.
RAW = {chr(c) for c in (*range(0x00, 0x0A), *range(0x0B, 0x20), *range(0x7F, 0xA0))}
RAW |= {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)}
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the console renderer's own colours


@pytest.mark.parametrize("renderer", ["console", "json"])
async def test_logged_exception_quotes_no_raw_peer_text(tmp_path: Path, renderer: str):
    """``log.exception`` went through structlog's ``format_exc_info``: the traceback's
    last line quoted the exception's message raw, and the console renderer printed the
    peer's window-title escape, screen clear, bidi override and line separator to the
    terminal. Now every line of a logged traceback is printable ASCII, whatever the
    renderer, and nothing but the traceback's own newlines starts a line."""
    scope = tmp_path / "scope.toml"
    scope.write_text(scope_text([HOST], [9]), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        EXCEPTION_DRIVER,
        renderer,
        str(scope),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err
    assert out.decode().split() == ["error", "internal", "error:", "ValueError"]
    text = err.decode("utf-8")
    assert "probe_failed" in text
    assert "ValueError" in text
    shown = ANSI_COLOUR.sub("", text) if renderer == "console" else text
    assert not RAW & set(shown), sorted(hex(ord(c)) for c in RAW & set(shown))
    if renderer == "json":
        (line,) = text.splitlines()
        exception = json.loads(line)["exception"]
        assert not RAW & set(exception.replace("\n", ""))
        assert exception.splitlines()[-1].startswith("ValueError: peer sent \\x1b]0;owned")
    else:
        last = [line for line in shown.splitlines() if line.startswith("ValueError")]
        assert last == [
            "ValueError: peer sent \\x1b]0;owned\\x07\\x1b[2J\\u202eevil\\u2028fake line\\r\\x9b"
        ]

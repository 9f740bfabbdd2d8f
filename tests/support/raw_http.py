"""A hostile HTTP peer written byte by byte: headers no well-behaved server would send.

aiohttp's own server refuses to send control characters in a header (rightly); a hostile
device does not ask. :func:`raw_http_peer` answers canned responses from a table, raw
bytes and all, on 127.0.0.1 (optionally over TLS), records each request line, and is
stopped when its context ends. Every connection is closed after one answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: bytes = b"text/html"
    #: extra header lines, raw (name, value): the value may hold any byte but CR/LF
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def json(cls, value: Any, status: int = 200, **kwargs: Any) -> Reply:
        # ensure_ascii: control characters travel as \\u escapes, as a JSON API sends them
        return cls(status, json.dumps(value).encode(), b"application/json", **kwargs)


@dataclass
class RawPeer:
    port: int
    paths: list[str] = field(default_factory=list)


def _reason(status: int) -> bytes:
    return {200: b"OK", 302: b"Found", 401: b"Unauthorized", 404: b"Not Found"}.get(
        status, b"Status"
    )


@asynccontextmanager
async def raw_http_peer(
    routes: Mapping[str, Reply],
    *,
    default: Reply = Reply(404, b"<title>Not found</title>"),
    server_header: bytes = b"raw",
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[RawPeer]:
    """Serve ``routes`` (keyed by path and query as sent, else by path alone)."""
    peer = RawPeer(port=0)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")
            peer.paths.append(target)
            reply = routes.get(target) or routes.get(target.split("?", 1)[0]) or default
            lines = [
                b"HTTP/1.1 %d %s" % (reply.status, _reason(reply.status)),
                b"Server: " + server_header,
                b"Content-Type: " + reply.content_type,
                b"Content-Length: %d" % len(reply.body),
                b"Connection: close",
                *(name + b": " + value for name, value in reply.headers),
            ]
            writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + reply.body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # stopped with the peer; a cancelled callback task would be logged
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
            tasks.discard(task)

    server = await asyncio.start_server(handle, HOST, 0, ssl=tls)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

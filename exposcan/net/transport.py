"""TCP (and later TLS) connections with deadlines and bounded reads.

Errors are translated once, here, into the closed ``Status`` vocabulary
(httpcore's ``map_exceptions`` pattern): code above this module sees only
:class:`NetError` with a status and a short, content-free detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ssl
from collections.abc import Iterator

from exposcan.net.tls import facts_of
from exposcan.results import TlsFacts
from exposcan.vocabulary import Status

#: One read never asks for more than this; the framer caps PDU sizes anyway.
READ_CHUNK = 64 * 1024


class NetError(Exception):
    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


@contextlib.contextmanager
def map_errors(*, connecting: bool) -> Iterator[None]:
    try:
        yield
    except NetError:
        raise
    except TimeoutError:
        status = Status.CONNECTION_TIMEOUT if connecting else Status.IO_TIMEOUT
        raise NetError(status, "timed out connecting" if connecting else "timed out") from None
    except ConnectionRefusedError:
        raise NetError(Status.CONNECTION_REFUSED, "connection refused") from None
    except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError):
        raise NetError(Status.CONNECTION_CLOSED, "connection reset by peer") from None
    except ssl.SSLError as exc:
        raise NetError(Status.TLS_ERROR, exc.reason or type(exc).__name__) from None
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            raise NetError(Status.ERROR, exc.strerror or "unreachable") from None
        raise NetError(Status.ERROR, exc.strerror or type(exc).__name__) from None


class Connection:
    """A stream with a deadline on every read and write."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.tls: TlsFacts | None = facts_of(writer.get_extra_info("ssl_object"))
        self.bytes_sent = 0
        self.bytes_received = 0

    async def send(self, data: bytes, *, timeout: float) -> None:
        with map_errors(connecting=False):
            self._writer.write(data)
            # Only wait when the kernel did not take it all: a DICOM request is
            # small and usually leaves nothing buffered, and the wait costs more
            # than the write. A lost connection shows on the next read.
            if self._writer.transport.get_write_buffer_size():
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
        self.bytes_sent += len(data)

    async def receive(self, *, timeout: float) -> bytes:
        """Up to :data:`READ_CHUNK` bytes; ``b""`` when the peer has closed."""
        with map_errors(connecting=False):
            async with asyncio.timeout(timeout):
                data = await self._reader.read(READ_CHUNK)
        self.bytes_received += len(data)
        return data

    def send_nowait(self, data: bytes) -> None:
        """Best effort, for a parting A-ABORT: never blocks, never raises."""
        with contextlib.suppress(Exception):
            if not self._writer.is_closing():
                self._writer.write(data)

    async def close(self, *, timeout: float = 1.0) -> None:
        """Close politely (FIN after what is queued), or drop the socket at the deadline."""
        transport = self._writer.transport
        with contextlib.suppress(Exception):
            self._writer.close()
            async with asyncio.timeout(timeout):
                await self._writer.wait_closed()
        if not transport.is_closing():
            transport.abort()

    def abort(self) -> None:
        """Drop the socket now (RST when unsent data remains)."""
        self._writer.transport.abort()


async def open_connection(
    host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None = None
) -> Connection:
    with map_errors(connecting=True):
        async with asyncio.timeout(timeout):
            if tls is None:
                reader, writer = await asyncio.open_connection(host, port, limit=READ_CHUNK)
            else:
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    limit=READ_CHUNK,
                    ssl=tls,
                    server_hostname="",  # no SNI: we address the host by its IP
                    ssl_handshake_timeout=timeout,
                )
    return Connection(reader, writer)

"""TCP and TLS connections with deadlines and bounded reads.

Errors are translated once, here, into the closed ``Status`` vocabulary
(httpcore's ``map_exceptions`` pattern): code above this module sees only
:class:`NetError` with a status and a short, content-free detail.

The connection is an :class:`asyncio.Protocol` rather than a stream pair: a
probe reads a handful of small PDUs and needs a deadline on each, and a
future with one timer handle does that for a fraction of what
``StreamReader`` plus ``asyncio.timeout`` costs per read (the profile of a
scan of 4,000 answering peers put the stream layers above the DICOM work).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import ssl
from collections.abc import Callable

from exposcan.connecting import ConnectPolicy, connect_policy
from exposcan.net.tls import facts_of
from exposcan.results import TlsFacts
from exposcan.vocabulary import Status

#: One read never returns more than this; the framer caps PDU sizes anyway.
READ_CHUNK = 64 * 1024
#: Past this much unread data the socket is no longer read (backpressure).
_HIGH_WATER = 4 * READ_CHUNK
#: How long to wait, after an abort, for the socket to be closed (it takes a loop
#: iteration or two; the bound is for a loop that is very busy).
ABORT_WAIT_S = 1.0


class NetError(Exception):
    def __init__(self, status: Status, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


class map_errors:  # a lower-case name: it reads as the function it was
    """Translate what the socket layer raises into :class:`NetError`.

    A class, not ``@contextmanager``: it wraps every read and write of a scan, and a
    generator per use cost more than the rest of a receive."""

    __slots__ = ("_connecting",)

    def __init__(self, *, connecting: bool) -> None:
        self._connecting = connecting

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, NetError):
            return
        error = _translated(exc, connecting=self._connecting)
        if error is not None:
            raise error from None


def _translated(exc: BaseException, *, connecting: bool) -> NetError | None:
    if isinstance(exc, TimeoutError):
        status = Status.CONNECTION_TIMEOUT if connecting else Status.IO_TIMEOUT
        return NetError(status, "timed out connecting" if connecting else "timed out")
    if isinstance(exc, ConnectionRefusedError):
        return NetError(Status.CONNECTION_REFUSED, "connection refused")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError):
        return NetError(Status.CONNECTION_CLOSED, "connection reset by peer")
    if isinstance(exc, ssl.SSLError):
        return NetError(Status.TLS_ERROR, exc.reason or type(exc).__name__)
    if isinstance(exc, OSError):
        if exc.errno in _UNREACHABLE:
            return NetError(Status.ERROR, exc.strerror or "unreachable")
        return NetError(Status.ERROR, exc.strerror or type(exc).__name__)
    return None


class _Protocol(asyncio.Protocol):
    """Buffers what the peer sends and wakes at most one waiting reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, tls: bool) -> None:
        self._loop = loop
        self._tls = tls
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        #: Why the connection ended, if it ended with an error.
        self.error: BaseException | None = None
        self.closed: asyncio.Future[None] = loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._paused_reading = False
        self.paused_writing = False

    # -- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._paused_reading = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        # Keep our half open, as asyncio's streams do: a peer may half-close
        # and still read our A-RELEASE-RQ or A-ABORT. (TLS cannot half-close.)
        return not self._tls

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- for Connection ---------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def take(self) -> bytes:
        data = bytes(self.buffer[:READ_CHUNK])
        del self.buffer[:READ_CHUNK]
        if self._paused_reading and len(self.buffer) <= _HIGH_WATER // 2:
            self._paused_reading = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()
        return data

    async def wait(self, timeout: float, *, writable: bool = False) -> None:
        """Until data, end of stream (or room to write), or ``TimeoutError``."""
        future = self._loop.create_future()
        if writable:
            self._writable = future
        else:
            self._waiter = future
        timer = self._loop.call_later(timeout, _expire, future)
        try:
            await future
        finally:
            timer.cancel()
            if future.done() and not future.cancelled():
                future.exception()  # retrieved, even when a cancellation won the race
            if writable:
                self._writable = None
            else:
                self._waiter = None


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Connection:
    """A connection with a deadline on every read and write."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.tls: TlsFacts | None = facts_of(transport.get_extra_info("ssl_object"))
        self.bytes_sent = 0
        self.bytes_received = 0

    async def send(self, data: bytes, *, timeout: float) -> None:
        protocol = self._protocol
        with map_errors(connecting=False):
            if protocol.eof and protocol.error is not None:
                raise ConnectionResetError
            if self._transport.is_closing():
                raise BrokenPipeError
            self._transport.write(data)
            # A DICOM request is small; only a peer that stops reading makes us wait.
            if protocol.paused_writing:
                await protocol.wait(timeout, writable=True)
                if protocol.error is not None:
                    raise ConnectionResetError
        self.bytes_sent += len(data)

    async def receive(self, *, timeout: float) -> bytes:
        """Up to :data:`READ_CHUNK` bytes; ``b""`` when the peer has closed."""
        protocol = self._protocol
        with map_errors(connecting=False):
            if not protocol.buffer and not protocol.eof:
                await protocol.wait(timeout)
            if protocol.buffer:
                data = protocol.take()
                self.bytes_received += len(data)
                return data
            if protocol.error is not None:
                raise protocol.error
            return b""

    def send_nowait(self, data: bytes) -> None:
        """Best effort, for a parting A-ABORT: never blocks, never raises."""
        with contextlib.suppress(Exception):
            if data and not self._transport.is_closing():
                self._transport.write(data)

    async def close(self, *, timeout: float = 1.0) -> None:
        """Close politely (FIN after what is queued), or drop the socket at the deadline.

        The socket is gone when this returns or raises, a cancellation included: a TLS
        close waits for the peer's close_notify, and a peer that never sends one must
        not hold the socket past its endpoint."""
        transport = self._transport
        closed = self._protocol.closed
        try:
            with contextlib.suppress(Exception):
                transport.close()
                if timeout > 0:
                    async with asyncio.timeout(timeout):
                        await asyncio.shield(closed)
        finally:
            if not closed.done():
                self.abort()
                # The kernel socket closes a loop iteration or two after an abort.
                await asyncio.wait([closed], timeout=ABORT_WAIT_S)

    def abort(self) -> None:
        """Drop the socket now (RST when unsent data remains); never raises."""
        with contextlib.suppress(Exception):
            self._transport.abort()


async def open_connection(
    host: str,
    port: int,
    *,
    timeout: float,
    tls: ssl.SSLContext | None = None,
    paused: asyncio.Timeout | None = None,
) -> Connection:
    """A connection to ``host``:``port`` within ``timeout`` (the TCP connect and the TLS
    handshake). Under a :data:`~exposcan.connecting.connect_policy` the TCP connect waits
    what the policy says (never more than ``timeout``), the policy hears what came back,
    and the conversation starts when it says so; ``paused``, the caller's deadline, stands
    still meanwhile and is moved on by that wait."""
    policy = connect_policy.get()
    family = _family(host)
    if policy is None or family is None:
        return await _open(host, port, timeout=timeout, tls=tls)
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        with map_errors(connecting=True):
            started = loop.time()
            try:
                await _connect(
                    loop,
                    sock,
                    (host, port),
                    policy.connect_timeout(host, timeout),
                    issued=lambda: policy.issued(host),
                )
            except ConnectionRefusedError:
                policy.answered(host, loop.time() - started)  # a RST is an answer
                raise
            policy.answered(host, loop.time() - started)
            await _queue(loop, policy, host, paused)
            if tls is None:  # the transport is made in one loop iteration
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(loop, tls=False), sock=sock
                )
            else:
                async with asyncio.timeout(timeout):
                    transport, protocol = await loop.create_connection(
                        lambda: _Protocol(loop, tls=True),
                        sock=sock,
                        ssl=tls,
                        server_hostname="",
                        ssl_handshake_timeout=timeout,
                    )
    except BaseException:
        sock.close()  # the transport never took it (closing twice is harmless)
        raise
    return _connection(transport, protocol)


async def _queue(
    loop: asyncio.AbstractEventLoop,
    policy: ConnectPolicy,
    host: str,
    paused: asyncio.Timeout | None,
) -> None:
    """Wait until the policy lets the conversation start.

    That wait is for the scan's own budget, never for the peer, so the caller's deadline
    is moved on by it rather than spent."""
    began, until = loop.time(), None if paused is None else paused.when()
    if paused is not None:
        paused.reschedule(None)
    try:
        await policy.established(host)
    finally:
        if paused is not None and until is not None:
            paused.reschedule(until + loop.time() - began)


async def _connect(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    address: tuple[str, int],
    timeout: float,
    *,
    issued: Callable[[], None],
) -> None:
    """``loop.sock_connect`` for a literal address, with ``timeout`` on its own future:
    without the resolver step, the done-callback and an ``asyncio.timeout`` (this runs
    at every connect of a scan). ``issued`` is called as soon as the syscall returns,
    whatever it returned: the SYN has left then."""
    try:
        sock.connect(address)
        return
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        issued()
    fd = sock.fileno()
    future: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _writable, future)
    timer = loop.call_later(timeout, _expire, future)
    try:
        await future
    finally:
        timer.cancel()
        loop.remove_writer(fd)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        # As asyncio says it; OSError picks the subclass (ConnectionRefusedError...).
        raise OSError(error, f"Connect call failed {address}")


def _writable(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _family(host: str) -> socket.AddressFamily | None:
    """The family of a literal address; None for a name (those take the plain path).
    The C parser first (it takes exactly the dotted quads ipaddress takes): this runs
    at every connect."""
    with contextlib.suppress(OSError, ValueError):
        socket.inet_pton(socket.AF_INET, host)
        return socket.AF_INET
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return None
    return socket.AF_INET if version == 4 else socket.AF_INET6


async def _open(host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None) -> Connection:
    loop = asyncio.get_running_loop()
    with map_errors(connecting=True):
        async with asyncio.timeout(timeout):
            if tls is None:
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(loop, tls=False), host, port
                )
            else:
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(loop, tls=True),
                    host,
                    port,
                    ssl=tls,
                    server_hostname="",  # no SNI: we address the host by its IP
                    ssl_handshake_timeout=timeout,
                )
    return _connection(transport, protocol)


def _connection(transport: asyncio.BaseTransport, protocol: _Protocol) -> Connection:
    assert isinstance(transport, asyncio.Transport)
    try:
        return Connection(transport, protocol)
    except BaseException:
        transport.abort()  # the caller never got the connection, so it cannot close it
        raise

"""Hostile and broken peers, scripted byte by byte (no DICOM library on this side).

A script is a list of steps run against each connection:

- ``("recv",)``: read one PDU (header, then its body) or whatever arrives first;
- ``("send", data)``: write bytes; ``("drip", data, interval)``: one byte per interval;
- ``("sleep", seconds)``; ``("close",)``: FIN; ``("rst",)``: reset (SO_LINGER 0);
- ``("deaf",)``: stop reading and keep the connection open (bounded: 30 s); over TLS the
  client's close_notify is then never answered;
- ``("recv-http",)``: read one HTTP request head (to the blank line);
- ``("drain",)``: read and discard until the client closes (counted as ``eof`` or ``reset``);
- ``("repeat", data, interval[, bytewise])``: send ``data`` (or ``"pending"``: a pending
  C-FIND-RSP for the request read) every ``interval`` seconds, or one byte of it per
  interval when ``bytewise``, until the client goes away; meanwhile the client's PDUs
  are read, and an A-ABORT among them counted as ``abort_seen``;
- ``("recv-find",)``: read PDUs until a whole C-FIND-RQ (command set and identifier);
- ``("stream", Stream(...))``: C-FIND-RSP pending matches for that request (PS3.4 §C.4.1.3),
  a number of them or without end, optionally until a C-CANCEL-RQ arrives;
- ``("final", status)``: the final C-FIND-RSP, with no identifier.

``hostile_peers(..., stats=...)`` counts, per script, what its connections did (bytes sent,
matches sent, whether a C-CANCEL-RQ or an A-ABORT was seen, how the client closed);
``hostile_peers(..., tls=context)`` serves every script over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.pdu import (
    COMMAND,
    LAST,
    NO_DATA_SET,
    element,
    pdu,
    pdv,
    response,
    us,
)

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # PS3.4 Annex C.6.2
#: A synthetic study-level identifier: Query/Retrieve Level and a made-up Study UID.
MATCH_IDENTIFIER = element(0x0008, 0x0052, b"STUDY ") + element(0x0020, 0x000D, b"1.2.3.4\x00")
FIND_PENDING = 0xFF00
FIND_CANCELLED = 0xFE00


def find_rsp(
    message_id: int, context_id: int, status: int = FIND_PENDING, *, padding: int = 0
) -> bytes:
    """C-FIND-RSP (PS3.7 §9.1.2.1, Table 9.1-3) in one P-DATA-TF: command set, then (when
    pending) the identifier of one match in a second PDV, made ``padding`` bytes longer by
    an Image Comments (0020,4000) element of filler."""
    pending = status in (0xFF00, 0xFF01)
    data_set_type = 0x0001 if pending else NO_DATA_SET
    command = response(0x8020, STUDY_ROOT_FIND, message_id, status, data_set_type=data_set_type)
    body = pdv(context_id, COMMAND | LAST, command)
    if pending:
        identifier = MATCH_IDENTIFIER
        if padding:
            identifier += element(0x0020, 0x4000, b"Z" * (padding + padding % 2))
        body += pdv(context_id, LAST, identifier)
    return pdu(0x04, body)


#: exposcan proposes Verification as context 1 and Study Root FIND as context 3
#: (exposcan.dicom.services order, odd ids): accept both.
FIND_CONTEXTS = ((1, 0), (3, 0))


@dataclass(frozen=True)
class Stream:
    """How a ``("stream", ...)`` step sends pending matches.

    ``count=None`` streams until ``until_cancel`` stops it, the client goes away,
    or ``limit_s`` (a bound for the test, far beyond any endpoint deadline).
    ``batch`` matches are written per drain, with ``pause`` seconds between batches;
    ``padding`` makes each identifier that many bytes longer (see :func:`find_rsp`).
    """

    count: int | None = None
    until_cancel: bool = False
    batch: int = 16
    pause: float = 0.001
    limit_s: float = 30.0
    padding: int = 0


RELEASE_RP = pdu(0x06, bytes(4))


def dicom_script(ac: bytes, echo: bytes) -> list[tuple[Any, ...]]:
    """A peer that accepts with ``ac``, answers the C-ECHO with ``echo`` and releases."""
    return [("recv",), ("send", ac), ("recv",), ("send", echo), ("recv",), ("send", RELEASE_RP)]


ABORT = pdu(0x07, bytes([0, 0, 0, 0]))
RJ_CALLED = pdu(0x03, bytes([0, 1, 1, 7]))


def _commands(data: bytes) -> list[tuple[int, int, dict[int, bytes]]]:
    """(context id, control, command elements) of each PDV in one P-DATA-TF."""
    found = []
    offset = 6
    while offset + 6 <= len(data):
        (length,) = struct.unpack_from(">L", data, offset)
        context_id, control = data[offset + 4], data[offset + 5]
        value = data[offset + 6 : offset + 4 + length]
        offset += 4 + length
        elements: dict[int, bytes] = {}
        if control & 1:
            at = 0
            while at + 8 <= len(value):
                _, tag, size = struct.unpack_from("<HHL", value, at)
                elements[tag] = value[at + 8 : at + 8 + size]
                at += 8 + size
        found.append((context_id, control, elements))
    return found


C_FIND_RQ, C_CANCEL_RQ = 0x0020, 0x0FFF


async def _recv_find(reader: asyncio.StreamReader) -> tuple[int, int] | None:
    """Read until a whole C-FIND-RQ: return its (context id, message id)."""
    request: tuple[int, int] | None = None
    while True:
        data = await _recv_pdu(reader)
        if len(data) < 6:
            return None
        if data[0] != 0x04:
            continue
        for context_id, control, elements in _commands(data):
            field = elements.get(0x0100)
            if field is not None and struct.unpack("<H", field)[0] == C_FIND_RQ:
                request = (context_id, struct.unpack("<H", elements[0x0110])[0])
                if elements.get(0x0800) == us(NO_DATA_SET):
                    return request  # no identifier follows (not what exposcan sends)
            elif request is not None and not control & 1 and control & 2:
                return request  # the identifier's last fragment


async def _watch_cancel(reader: asyncio.StreamReader, seen: asyncio.Event) -> None:
    """Read PDUs until a C-CANCEL-RQ (nothing after it is consumed)."""
    while True:
        data = await _recv_pdu(reader)
        if len(data) < 6:
            return
        if data[0] == 0x04:
            for _, _, elements in _commands(data):
                field = elements.get(0x0100)
                if field is not None and struct.unpack("<H", field)[0] == C_CANCEL_RQ:
                    seen.set()
                    return


async def _stream(
    spec: Stream,
    request: tuple[int, int],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    stats: Counter[str],
) -> None:
    context_id, message_id = request
    one = find_rsp(message_id, context_id, padding=spec.padding)
    cancelled = asyncio.Event()
    watcher = asyncio.create_task(_watch_cancel(reader, cancelled)) if spec.until_cancel else None
    sent = 0
    stop_at = time.monotonic() + spec.limit_s
    try:
        while time.monotonic() < stop_at and not cancelled.is_set():
            n = spec.batch if spec.count is None else min(spec.batch, spec.count - sent)
            if n <= 0:
                break
            writer.write(one * n)
            await writer.drain()
            sent += n
            stats["matches"] += n
            stats["bytes"] += n * len(one)
            await asyncio.sleep(spec.pause)
        if cancelled.is_set():
            stats["cancel_seen"] += 1
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher


async def _repeat(
    step: tuple[Any, ...],
    request: tuple[int, int] | None,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    stats: Counter[str],
    limit_s: float = 30.0,
) -> None:
    data, interval = step[1], step[2]
    bytewise = len(step) > 3 and step[3]
    if data == "pending":
        assert request is not None, "pending needs a recv-find step first"
        data = find_rsp(request[1], request[0])
    gone = asyncio.Event()

    async def watch() -> None:
        try:
            while True:
                pdu = await _recv_pdu(reader)
                if not pdu:
                    break
                if pdu[0] == 0x07:
                    stats["abort_seen"] += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        gone.set()

    watcher = asyncio.create_task(watch())
    stop_at = time.monotonic() + limit_s
    try:
        while not gone.is_set() and time.monotonic() < stop_at:
            for chunk in [data[i : i + 1] for i in range(len(data))] if bytewise else [data]:
                if gone.is_set() or writer.is_closing():
                    break
                writer.write(chunk)
                stats["bytes"] += len(chunk)
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):
                        await gone.wait()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


async def _recv_pdu(reader: asyncio.StreamReader) -> bytes:
    header = await reader.read(6)
    if len(header) < 6:
        return header
    (length,) = struct.unpack(">L", header[2:6])
    if length > 1 << 20:
        return header
    return header + await reader.readexactly(length)


async def run_script(
    script: Sequence[tuple[Any, ...]],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    stats: Counter[str] | None = None,
) -> None:
    stats = stats if stats is not None else Counter()
    request: tuple[int, int] | None = None
    for step in script:
        op = step[0]
        if op == "recv-find":
            request = await _recv_find(reader)
            if request is None:
                return
        elif op == "stream":
            assert request is not None, "stream needs a recv-find step first"
            await _stream(step[1], request, reader, writer, stats)
        elif op == "final":
            assert request is not None, "final needs a recv-find step first"
            writer.write(find_rsp(request[1], request[0], step[1]))
            await writer.drain()
        elif op == "recv":
            if not await _recv_pdu(reader):
                return
        elif op == "send":
            writer.write(step[1])
            await writer.drain()
        elif op == "drip":
            for byte in step[1]:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(step[2])
        elif op == "sleep":
            await asyncio.sleep(step[1])
        elif op == "close":
            writer.close()
            return
        elif op == "rst":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        elif op == "drain":
            try:
                while await reader.read(4096):
                    pass
            except ConnectionError:
                stats["reset"] += 1
            else:
                stats["eof"] += 1
            return
        elif op == "repeat":
            await _repeat(step, request, reader, writer, stats)
        elif op == "deaf":
            writer.transport.pause_reading()
            await asyncio.sleep(30)
            return
        elif op == "recv-http":
            await reader.readuntil(b"\r\n\r\n")
        else:
            raise ValueError(op)


@asynccontextmanager
async def hostile_peers(
    scripts: dict[str, Sequence[tuple[Any, ...]]],
    host: str = "127.0.0.1",
    *,
    stats: dict[str, Counter[str]] | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[dict[str, int]]:
    """Start one listener per script; yield name -> port; always stop them all.

    ``stats``, when given, gets a :class:`Counter` per script name: ``connections``,
    ``bytes`` and ``matches`` streamed, ``cancel_seen``, ``abort_seen``, ``eof`` and
    ``reset`` (how ``drain`` saw the client go).
    """
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()
    ports: dict[str, int] = {}
    counters = stats if stats is not None else {}

    def handler(name: str, script: Sequence[tuple[Any, ...]]) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            counter = counters.setdefault(name, Counter())
            counter["connections"] += 1
            try:
                await run_script(script, reader, writer, counter)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                if tls is None:
                    writer.close()
                else:
                    # A TLS close waits for the client's close_notify; the test may end first.
                    writer.transport.abort()
                tasks.discard(task)

        return handle

    try:
        for name, script in scripts.items():
            server = await asyncio.start_server(handler(name, script), host, 0, ssl=tls)
            servers.append(server)
            ports[name] = server.sockets[0].getsockname()[1]
        yield ports
    finally:
        for server in servers:
            server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

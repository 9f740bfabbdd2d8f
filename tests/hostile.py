"""Hostile and broken peers, scripted byte by byte (no DICOM library on this side).

A script is a list of steps run against each connection:

- ``("recv",)``: read one PDU (header, then its body) or whatever arrives first;
- ``("send", data)``: write bytes; ``("drip", data, interval)``: one byte per interval;
- ``("sleep", seconds)``; ``("close",)``: FIN; ``("rst",)``: reset (SO_LINGER 0);
- ``("drain",)``: read and discard until the client closes.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

IMPLICIT = b"1.2.840.10008.1.2"
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"


def item(item_type: int, body: bytes) -> bytes:
    """PS3.8 §9.3.1: type, reserved, 2-byte length, body."""
    return struct.pack(">BxH", item_type, len(body)) + body


def pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BxL", pdu_type, len(body)) + body


def associate_ac(
    *,
    contexts: Sequence[tuple[int, int]] = ((1, 0),),
    max_length: int | None = 16382,
    version: int = 1,
    include_app_context: bool = True,
    include_user_info: bool = True,
) -> bytes:
    """A-ASSOCIATE-AC (PS3.8 Table 9-17) with (context id, result) pairs."""
    fixed = (
        struct.pack(">HH", version, 0) + b"ANY-SCP".ljust(16) + b"EXPOSCAN".ljust(16) + bytes(32)
    )
    items = item(0x10, APP_CONTEXT) if include_app_context else b""
    for context_id, result in contexts:
        items += item(0x21, bytes([context_id, 0, result, 0]) + item(0x40, IMPLICIT))
    if include_user_info:
        sub = b"" if max_length is None else item(0x51, struct.pack(">L", max_length))
        sub += item(0x52, b"1.2.3.4.5.6")
        items += item(0x50, sub)
    return pdu(0x02, fixed + items)


def echo_rsp(message_id: int = 1, context_id: int = 1) -> bytes:
    """C-ECHO-RSP (PS3.7 §9.3.5.2) in one P-DATA-TF, Implicit VR Little Endian."""

    def element(tag: int, value: bytes) -> bytes:
        return struct.pack("<HHL", 0, tag, len(value)) + value

    body = (
        element(0x0002, b"1.2.840.10008.1.1\x00")
        + element(0x0100, struct.pack("<H", 0x8030))
        + element(0x0120, struct.pack("<H", message_id))
        + element(0x0800, struct.pack("<H", 0x0101))
        + element(0x0900, struct.pack("<H", 0))
    )
    command = element(0x0000, struct.pack("<L", len(body))) + body
    return pdu(0x04, struct.pack(">L", len(command) + 2) + bytes([context_id, 0x03]) + command)


RELEASE_RP = pdu(0x06, bytes(4))
ABORT = pdu(0x07, bytes([0, 0, 0, 0]))
RJ_CALLED = pdu(0x03, bytes([0, 1, 1, 7]))


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
) -> None:
    for step in script:
        op = step[0]
        if op == "recv":
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
            while await reader.read(4096):
                pass
            return
        else:
            raise ValueError(op)


@asynccontextmanager
async def hostile_peers(
    scripts: dict[str, Sequence[tuple[Any, ...]]], host: str = "127.0.0.1"
) -> AsyncIterator[dict[str, int]]:
    """Start one listener per script; yield name -> port; always stop them all."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()
    ports: dict[str, int] = {}

    def handler(script: Sequence[tuple[Any, ...]]) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await run_script(script, reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
                tasks.discard(task)

        return handle

    try:
        for name, script in scripts.items():
            server = await asyncio.start_server(handler(script), host, 0)
            servers.append(server)
            ports[name] = server.sockets[0].getsockname()[1]
        yield ports
    finally:
        for server in servers:
            server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

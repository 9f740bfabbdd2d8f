"""Shared fixtures: real peers on 127.0.0.1, always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt

from exposcan.dicom.uids import VERIFICATION
from exposcan.lab import free_port


@pytest.fixture
def scp_factory() -> Iterator[Callable[..., int]]:
    """Start pynetdicom SCPs on free loopback ports; returns their port."""
    servers: list[Any] = []

    def start(
        ae_title: str = "TEST-SCP",
        *,
        contexts: tuple[str, ...] = (VERIFICATION,),
        require_called_aet: bool = False,
        require_calling_aet: tuple[str, ...] = (),
        echo_status: int = 0x0000,
    ) -> int:
        ae = AE(ae_title=ae_title)
        ae.require_called_aet = require_called_aet
        ae.require_calling_aet = list(require_calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        for uid in contexts:
            ae.add_supported_context(uid)
        server = ae.start_server(
            ("127.0.0.1", 0),
            block=False,
            evt_handlers=[(evt.EVT_C_ECHO, lambda event: echo_status)],
        )
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()


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


def scope_text(
    include: list[str],
    ports: list[int],
    *,
    exclude: list[str] | None = None,
    expires: date | None = None,
) -> str:
    expires = expires or date.today() + timedelta(days=7)
    return (
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        'reference = "TEST-1"\n'
        f"expires = {expires.isoformat()}\n"
        "[scope]\n"
        f"include = {include!r}\n".replace("'", '"')
        + f"exclude = {exclude or []!r}\n".replace("'", '"')
        + f"ports = {ports!r}\n"
    )


@pytest.fixture
def write_scope(tmp_path: Path) -> Callable[..., Path]:
    def write(include: list[str], ports: list[int], **kwargs: Any) -> Path:
        path = tmp_path / "scope.toml"
        path.write_text(scope_text(include, ports, **kwargs), encoding="utf-8")
        return path

    return write

"""Shared fixtures: real peers on 127.0.0.1, always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import selectors
import socket
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
from tests.netns import pytest_runtest_call  # noqa: F401 - after every test: loopback-only listeners

MARKER = "ZZSYNTH"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"


@dataclass
class FindLog:
    """What a scripted C-FIND SCP saw: requests, and whether C-CANCEL arrived."""

    requests: int = 0
    levels: list[str] = field(default_factory=list)
    sent: int = 0
    cancelled: bool = False


def synthetic_match(index: int) -> Any:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    match = Dataset()
    match.QueryRetrieveLevel = "STUDY"
    match.PatientName = f"{MARKER}^PATIENT{index:05d}"
    match.PatientID = f"{MARKER}{index:06d}"
    match.StudyInstanceUID = generate_uid()
    return match


@pytest.fixture
def scp_factory() -> Iterator[Callable[..., Any]]:
    """Start pynetdicom SCPs on free loopback ports; returns their port.

    ``find_matches=N`` adds Study Root FIND that streams N synthetic matches
    (patients carry the ``MARKER``); ``honour_cancel=False`` keeps streaming
    after C-CANCEL. ``find_log`` records what the SCP saw.
    """
    servers: list[Any] = []

    def start(
        ae_title: str = "TEST-SCP",
        *,
        contexts: tuple[str, ...] = (VERIFICATION,),
        require_called_aet: bool = False,
        require_calling_aet: tuple[str, ...] = (),
        echo_status: int = 0x0000,
        find_matches: int | None = None,
        find_status: int | None = None,
        honour_cancel: bool = True,
        find_log: FindLog | None = None,
        find_delay: float = 0.001,
    ) -> int:
        ae = AE(ae_title=ae_title)
        ae.require_called_aet = require_called_aet
        ae.require_calling_aet = list(require_calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.maximum_associations = 4
        for uid in contexts:
            ae.add_supported_context(uid)
        log = find_log if find_log is not None else FindLog()

        def on_find(event: Any) -> Any:
            log.requests += 1
            log.levels.append(str(event.identifier.QueryRetrieveLevel))
            if find_status is not None:
                yield find_status, None
                return
            for index in range(find_matches or 0):
                if event.is_cancelled:
                    log.cancelled = True
                    if honour_cancel:
                        yield 0xFE00, None
                        return
                log.sent += 1
                time.sleep(find_delay)  # a database behind it; also lets C-CANCEL be read
                yield 0xFF00, synthetic_match(index)
            yield 0x0000, None

        handlers = [(evt.EVT_C_ECHO, lambda event: echo_status)]
        if find_matches is not None or find_status is not None:
            ae.add_supported_context(STUDY_ROOT_FIND)
            handlers.append((evt.EVT_C_FIND, on_find))
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
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


A_ABORT = b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00"  # PS3.8 Table 9-26, source 0


def bind_listeners(
    addresses: tuple[str, ...], port: int, *, backlog: int
) -> tuple[selectors.BaseSelector, list[socket.socket]]:
    """Non-blocking listening sockets on ``port`` of each loopback address, in one selector."""
    selector = selectors.DefaultSelector()
    servers = []
    for address in addresses:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(backlog)
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ)
        servers.append(server)
    return selector, servers


class CountingListener:
    """Loopback listeners in their own thread, so that accept times are not
    delayed by the scanner's event loop. Each connection: read the request,
    hold for ``hold`` seconds, answer A-ABORT, close."""

    def __init__(self, addresses: tuple[str, ...], port: int, hold: float) -> None:
        import threading

        self.port = port
        self.hold = hold
        self.accepted: list[tuple[str, float]] = []
        self.open_now: dict[str, int] = {}
        self.max_open: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._selector, self._sockets = bind_listeners(addresses, port, backlog=128)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import threading

        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                now = time.monotonic()
                address = conn.getsockname()[0]
                with self._lock:
                    self.accepted.append((address, now))
                    self.open_now[address] = self.open_now.get(address, 0) + 1
                    self.max_open[address] = max(
                        self.max_open.get(address, 0), self.open_now[address]
                    )
                threading.Thread(target=self._serve, args=(conn, address), daemon=True).start()

    def _serve(self, conn: Any, address: str) -> None:
        try:
            conn.settimeout(2)
            conn.recv(4096)
            time.sleep(self.hold)
            conn.sendall(A_ABORT)
        except OSError:
            pass
        finally:
            with self._lock:
                self.open_now[address] -= 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for server in self._sockets:
            server.close()
        self._selector.close()


@pytest.fixture
def counting_listener() -> Iterator[Callable[..., CountingListener]]:
    listeners: list[CountingListener] = []

    def start(
        addresses: tuple[str, ...] = ("127.0.0.1",), port: int | None = None, hold: float = 0.0
    ) -> CountingListener:
        listener = CountingListener(addresses, port or free_port(), hold)
        listeners.append(listener)
        return listener

    yield start
    for listener in listeners:
        listener.close()


# --------------------------------------------------------------------------- recorded C-FIND SCPs

#: Every identifying value a :func:`find_scp_factory` SCP put into a match, in this process.
SCP_MATCH_STRINGS: set[str] = {MARKER}


@dataclass
class FindScp:
    """A running pynetdicom Q/R FIND SCP and everything it could have disclosed."""

    port: int
    ae_title: str
    models: tuple[str, ...]
    matches: int
    log: FindLog
    #: names, IDs, birth dates, accession numbers and study UIDs of every match
    strings: frozenset[str]


def recorded_matches(count: int, level: str, *, start: int = 0) -> tuple[list[Any], set[str]]:
    """``count`` synthetic matches at ``level`` (PATIENT or STUDY) and their identifying values.

    Names, IDs and accession numbers carry :data:`MARKER`; birth dates (1901-1930) and
    study UIDs do not, so they are returned to be searched for one by one.
    """
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    matches: list[Any] = []
    strings: set[str] = set()
    for index in range(start, start + count):
        match = Dataset()
        match.QueryRetrieveLevel = level
        match.PatientName = f"{MARKER}^FIND{index:05d}"
        match.PatientID = f"{MARKER}F{index:06d}"
        match.PatientBirthDate = f"{1901 + index % 30:04d}{1 + index % 12:02d}{1 + index % 28:02d}"
        values = [str(match.PatientName), match.PatientID, match.PatientBirthDate]
        values.append(values[0].replace("^", " "))
        if level == "STUDY":
            match.StudyInstanceUID = generate_uid()
            match.AccessionNumber = f"{MARKER}N{index:06d}"
            values += [match.StudyInstanceUID, match.AccessionNumber]
        matches.append(match)
        strings.update(values)
    return matches, strings


@pytest.fixture
def find_scp_factory() -> Iterator[Callable[..., FindScp]]:
    """pynetdicom SCPs that offer Verification and the given Q/R FIND models only.

    Each answers C-FIND with ``matches`` pending responses built before it starts (so
    every identifying value is known to the leak checks: :data:`SCP_MATCH_STRINGS`),
    at the level the request asks for, and stops at C-CANCEL. Always shut down.
    """
    servers: list[Any] = []

    def start(
        *,
        models: tuple[str, ...] = (STUDY_ROOT_FIND,),
        matches: int = 5,
        ae_title: str = "FIND-SCP",
        delay: float = 0.0,
    ) -> FindScp:
        by_level = {}
        strings: set[str] = set()
        for offset, level in enumerate(("PATIENT", "STUDY")):
            by_level[level], seen = recorded_matches(matches, level, start=offset * matches)
            strings |= seen
        SCP_MATCH_STRINGS.update(strings)
        log = FindLog()
        ae = AE(ae_title=ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.maximum_associations = 4
        ae.add_supported_context(VERIFICATION)
        for model in models:
            ae.add_supported_context(model)

        def on_find(event: Any) -> Any:
            level = str(event.identifier.QueryRetrieveLevel)
            log.requests += 1
            log.levels.append(level)
            for match in by_level.get(level, ()):
                if event.is_cancelled:
                    log.cancelled = True
                    yield 0xFE00, None
                    return
                log.sent += 1
                if delay:
                    time.sleep(delay)
                yield 0xFF00, match
            yield 0x0000, None

        server = ae.start_server(
            ("127.0.0.1", 0),
            block=False,
            evt_handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000), (evt.EVT_C_FIND, on_find)],
        )
        servers.append(server)
        return FindScp(
            port=int(server.server_address[1]),
            ae_title=ae_title,
            models=models,
            matches=matches,
            log=log,
            strings=frozenset(strings),
        )

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(autouse=True)
def no_real_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail any test that asks the system resolver about a non-loopback name: a DNS
    query would be traffic to an address outside 127.0.0.0/8 (the resolver's)."""
    real = socket.getaddrinfo
    violations: list[str] = []

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in (None, "", b""):  # a wildcard for bind(): no lookup
            return real(host, *args, **kwargs)
        name = host.decode() if isinstance(host, bytes) else str(host)
        allowed = name == "localhost"
        with contextlib.suppress(ValueError):
            allowed = allowed or ipaddress.ip_address(name).is_loopback
        if not allowed:
            violations.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no DNS for {name!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield violations
    assert not violations, f"tests must not resolve real names: {violations}"

"""Scale lab: cheap asyncio DICOM responders on many loopback addresses.

N hosts (default 1,000, from 127.42.0.1 in 127.42.0.0/22), one port each
(default 11112), with a mix that resembles what Internet surveys find:

=========  =======  ===========================================================  ==========
kind       share    behaviour                                                    exposure
=========  =======  ===========================================================  ==========
closed     55 %     nothing listens: the connection is refused                   none
silent      5 %     accepts the connection, never says a word                    none
open       20 %     any called AE: A-ASSOCIATE-AC (Verification), C-ECHO          echo
                    success, A-RELEASE-RP
checked    10 %     checks the called AE: A-ASSOCIATE-RJ (permanent, user,       protected
                    reason 7 "called AE title not recognised") unless its
                    own, unguessable title is called
stock       2 %     checks the called AE, but its title is a product default      echo
                    (ORTHANC, DCM4CHEE, STORESCP): a stranger who tries the
                    shipped titles gets in
find        5 %     any called AE; Verification and Study Root FIND accepted;     query
                    a C-FIND returns 1 to 25 pending synthetic matches (a
                    level and a made-up 2.25 UID, nothing else), then success
refuse      3 %     accepts the association, then aborts on every DIMSE          protected
                    request (a server that refuses every real operation)
=========  =======  ===========================================================  ==========

"exposure" is the ground truth in exposcan's vocabulary: how far a stranger can
get. ``Lab.expected(depth)`` also gives what a tool that makes only one
association with called AE ``ANY-SCP`` can see (``stock`` looks ``protected``
to it; a C-ECHO-only tool sees ``find`` as ``echo``).

The responders are written against the byte formats of PS3.8 (PDU headers,
A-ASSOCIATE-AC/RJ, P-DATA-TF) and PS3.7 (command sets in Implicit VR Little
Endian) directly: reply PDUs are pre-encoded or cached, and only PDU and
command-set headers are parsed, so one process answers thousands of
associations a second. Hosts are served by one or more worker processes
(``python benchmarks/lab.py --worker``, driven over a pipe); each worker has a
hard time limit, exits when its parent goes away, and can be pinned to a CPU
so that it does not compete with the scanner being measured.

Everything binds to 127.0.0.0/8 only; the lab refuses any other network.

    python benchmarks/lab.py --serve 60 [--hosts 1000] [--network 127.42.0.0/22]
        [--port 11112] [--processes 1] [--truth truth.json]

From Python::

    with Lab(hosts=1000) as lab:
        lab.hosts            # HostSpec(address, kind, ae_title, matches, exposure)
        lab.expected()       # {address: exposure}
        lab.stats()          # counters summed over workers (connections, RQs, ...)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: The repository root: the lab's PDUs come from the tests' one builder, tests/support/pdu.py
#: (standard library only, nothing from exposcan), whether run as a script or loaded;
#: its exposure words are exposcan's ordered vocabulary.
if (_ROOT := str(Path(__file__).resolve().parent.parent)) not in sys.path:
    sys.path.insert(1, _ROOT)
from exposcan.vocabulary import Exposure
from tests.support import pdu as wire

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
DEFAULT_NETWORK = "127.42.0.0/22"
DEFAULT_PORT = 11112

#: Share of each kind; ``closed`` takes whatever the others leave.
DEFAULT_MIX: dict[str, float] = {
    "silent": 0.05,
    "open": 0.20,
    "checked": 0.10,
    "stock": 0.02,
    "find": 0.05,
    "refuse": 0.03,
}
KINDS = ("closed", *DEFAULT_MIX)
#: Ground truth: how far a stranger can get (exposcan's vocabulary).
EXPOSURE = {
    "closed": "none",
    "silent": "none",
    "open": "echo",
    "checked": "protected",
    "stock": "echo",
    "find": "query",
    "refuse": "protected",
}
#: What one association with called AE ANY-SCP can show (no stock-title guessing).
FIRST_ASSOCIATION = {**EXPOSURE, "stock": "protected"}
#: Product-default titles the ``stock`` hosts use (the first shipped defaults
#: exposcan's stock list tries after ANY-SCP; any careful scanner knows them).
STOCK_TITLES = ("ORTHANC", "DCM4CHEE", "STORESCP")
#: exposcan's words for how far a stranger got (its ordered :class:`Exposure`).
EXPOSURES = frozenset(str(e) for e in Exposure)


def exposed(word: str) -> bool:
    """Whether a verdict word says a stranger got at least as far as C-ECHO; a word
    outside exposcan's vocabulary (another tool's failure) says not."""
    return word in EXPOSURES and Exposure(word) >= Exposure.ECHO


# -- wire constants (PS3.8 §9.3, PS3.7 §9.3 and Annex E) ----------------------

VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
LAB_CLASS_UID = "2.25.47110815133700000000000000000000001"
LAB_VERSION = "BENCHLAB_1"
MAX_PDU = 16384

#: A-ASSOCIATE-RJ, PS3.8 Table 9-21: result 1 (permanent), source 1 (user), reason 7.
RJ_CALLED_AE = b"\x03\x00\x00\x00\x00\x04\x00\x01\x01\x07"
#: A-RELEASE-RP, PS3.8 Table 9-25.
RELEASE_RP = b"\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00"
#: A-ABORT, PS3.8 Table 9-26: source 0 (service-user), reason 0.
ABORT = b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00"

ACCEPTS = {
    "open": {VERIFICATION},
    "stock": {VERIFICATION},
    "refuse": {VERIFICATION},
    "find": {VERIFICATION, STUDY_ROOT_FIND},
}

_PDU_HEADER = struct.Struct(">BxL")
_ITEM = struct.Struct(">BxH")
_ELEMENT = struct.Struct("<HHL")
#: PS3.8 §9.1.5 ARTIM: how long an acceptor waits for the peer to close after the end.
ARTIM_S = 5.0
#: The largest PDU a responder reads; anything bigger closes the connection.
_MAX_IN = 64 * 1024


def synthetic_match(index: int, transfer_syntax: str) -> bytes:
    """A C-FIND identifier with a level and an invented UID: nothing about anyone."""
    level = b"STUDY "
    uid = wire.uid(f"2.25.4711{index:08d}")
    if transfer_syntax == IMPLICIT_LE:
        return wire.element(0x0008, 0x0052, level) + wire.element(0x0020, 0x000D, uid)
    explicit = struct.Struct("<HH2sH")
    return (
        explicit.pack(0x0008, 0x0052, b"CS", len(level))
        + level
        + explicit.pack(0x0020, 0x000D, b"UI", len(uid))
        + uid
    )


def _ac_variable(contexts: Sequence[tuple[int, str, tuple[str, ...]]], accepts: set[str]) -> bytes:
    """Variable items of an A-ASSOCIATE-AC (PS3.8 §9.3.3.2, Table 9-17)."""
    items = [wire.item(0x10, APPLICATION_CONTEXT.encode())]
    for context_id, abstract, syntaxes in contexts:
        chosen = next((ts for ts in (IMPLICIT_LE, EXPLICIT_LE) if ts in syntaxes), None)
        if abstract not in accepts:
            result, chosen = 3, syntaxes[0] if syntaxes else IMPLICIT_LE  # abstract not supported
        elif chosen is None:
            result, chosen = 4, syntaxes[0] if syntaxes else IMPLICIT_LE  # no transfer syntax
        else:
            result = 0
        body = bytes((context_id, 0, result, 0)) + wire.item(0x40, chosen.encode())
        items.append(wire.item(0x21, body))
    user = (
        wire.item(0x51, struct.pack(">L", MAX_PDU))
        + wire.item(0x52, LAB_CLASS_UID.encode())
        + wire.item(0x55, LAB_VERSION.encode())
    )
    items.append(wire.item(0x50, user))
    return b"".join(items)


def parse_contexts(variable: bytes) -> list[tuple[int, str, tuple[str, ...]]]:
    """Presentation context items (0x20) of an A-ASSOCIATE-RQ (PS3.8 §9.3.2.2)."""
    contexts = []
    offset = 0
    while offset + 4 <= len(variable):
        item_type, length = _ITEM.unpack_from(variable, offset)
        body = variable[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if item_type != 0x20 or len(body) < 4:
            continue
        abstract, syntaxes = "", []
        sub = 4
        while sub + 4 <= len(body):
            sub_type, sub_length = _ITEM.unpack_from(body, sub)
            value = body[sub + 4 : sub + 4 + sub_length].decode("ascii", "replace").rstrip("\x00 ")
            sub += 4 + sub_length
            if sub_type == 0x30:
                abstract = value
            elif sub_type == 0x40:
                syntaxes.append(value)
        contexts.append((body[0], abstract, tuple(syntaxes)))
    return contexts


@dataclass(frozen=True, slots=True)
class HostSpec:
    address: str
    kind: str
    ae_title: str  # the title a called-AE check accepts; "" when any title is accepted
    matches: int  # C-FIND pending responses (find hosts)

    @property
    def exposure(self) -> str:
        return EXPOSURE[self.kind]

    @property
    def listening(self) -> bool:
        return self.kind != "closed"


def plan_hosts(
    count: int,
    network: str = DEFAULT_NETWORK,
    *,
    mix: Mapping[str, float] | None = None,
    seed: int = 42,
) -> list[HostSpec]:
    """Deterministic hosts: addresses from network+1, kinds shuffled by ``seed``.

    Every kind with a non-zero share gets at least one host when ``count``
    allows, so a small lab still covers the whole mix.
    """
    net = ipaddress.ip_network(network)
    if not net.subnet_of(LOOPBACK):  # type: ignore[arg-type]
        raise SystemExit(f"the lab binds loopback only; {network} is not in 127.0.0.0/8")
    if not 1 <= count <= net.num_addresses - 2:
        raise SystemExit(f"{count} hosts do not fit {network}")
    shares = dict(DEFAULT_MIX if mix is None else mix)
    counts = {kind: int(share * count) for kind, share in shares.items()}
    if count >= len(shares) + 1:
        for kind, share in shares.items():
            if share > 0 and counts[kind] == 0:
                counts[kind] = 1
    counts["closed"] = count - sum(counts.values())
    if counts["closed"] < 0:
        raise SystemExit("the mix's shares add up to more than 1")
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    rng = random.Random(seed)
    rng.shuffle(kinds)
    first = net.network_address + 1
    hosts = []
    for index, kind in enumerate(kinds):
        title = ""
        if kind == "checked":
            title = f"HOSP{rng.randrange(16**8):08X}"
        elif kind == "stock":
            title = STOCK_TITLES[index % len(STOCK_TITLES)]
        matches = rng.randint(1, 25) if kind == "find" else 0
        hosts.append(HostSpec(str(first + index), kind, title, matches))
    return hosts


def conflicting_listeners(port: int, addresses: Iterable[str] = ()) -> list[str]:
    """Sockets listening on ``port`` on a wildcard address or on one of
    ``addresses``: they would answer for hosts that the lab means to leave closed
    (or stop the lab from binding)."""
    wanted = {socket.inet_aton(a)[::-1].hex().upper() for a in addresses}
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name) as table:
            next(table)
            for line in table:
                fields = line.split()
                local, state = fields[1], fields[3]
                address, _, hex_port = local.partition(":")
                if state != "0A" or int(hex_port, 16) != port:
                    continue
                if set(address) == {"0"}:
                    found.append(f"{'[::]' if len(address) > 8 else '0.0.0.0'}:{port}")
                elif address in wanted:
                    found.append(f"{socket.inet_ntoa(bytes.fromhex(address)[::-1])}:{port}")
    return found


# -- the responders (run inside a worker process) -----------------------------


class Counters:
    FIELDS = (
        "connections",
        "silent_connections",
        "associate_rq",
        "associate_ac",
        "associate_rj",
        "c_echo",
        "c_find",
        "find_matches_sent",
        "aborts_sent",
        "release_rq",
        "peer_aborts",
        "protocol_errors",
    )

    def __init__(self) -> None:
        for name in self.FIELDS:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.FIELDS}


class Shared:
    """Per-worker state: counters and reply caches (bounded)."""

    def __init__(self, idle_timeout: float) -> None:
        self.counters = Counters()
        self.idle_timeout = idle_timeout
        self.ac_cache: dict[tuple[str, bytes], tuple[bytes, dict[int, str]]] = {}
        self.find_cache: dict[tuple[int, int, str, int], bytes] = {}

    def ac_for(self, kind: str, variable: bytes) -> tuple[bytes, dict[int, str]]:
        """A-ASSOCIATE-AC variable items for this RQ, and accepted context -> syntax."""
        key = (kind, variable)
        cached = self.ac_cache.get(key)
        if cached is None:
            contexts = parse_contexts(variable)
            accepts = ACCEPTS[kind]
            body = _ac_variable(contexts, accepts)
            accepted = {}
            for context_id, abstract, syntaxes in contexts:
                chosen = next((ts for ts in (IMPLICIT_LE, EXPLICIT_LE) if ts in syntaxes), None)
                if abstract in accepts and chosen is not None:
                    accepted[context_id] = f"{abstract}|{chosen}"
            if len(self.ac_cache) > 256:
                self.ac_cache.clear()
            cached = self.ac_cache[key] = (body, accepted)
        return cached

    def find_reply(self, matches: int, context_id: int, transfer_syntax: str, msg: int) -> bytes:
        key = (matches, context_id, transfer_syntax, msg)
        reply = self.find_cache.get(key)
        if reply is None:
            parts = []
            for index in range(matches):
                command = wire.response(0x8020, STUDY_ROOT_FIND, msg, 0xFF00, data_set_type=0)
                identifier = synthetic_match(index, transfer_syntax)
                parts.append(wire.p_data(wire.pdv(context_id, wire.COMMAND | wire.LAST, command)))
                parts.append(wire.p_data(wire.pdv(context_id, wire.LAST, identifier)))
            final = wire.response(0x8020, STUDY_ROOT_FIND, msg, 0)
            parts.append(wire.p_data(wire.pdv(context_id, wire.COMMAND | wire.LAST, final)))
            reply = b"".join(parts)
            if len(self.find_cache) > 1024:
                self.find_cache.clear()
            self.find_cache[key] = reply
        return reply


class Silent(asyncio.Protocol):
    """Accepts, reads and discards, never answers; closes after the idle timeout."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.shared.counters.connections += 1
        self.shared.counters.silent_connections += 1
        self.timer = asyncio.get_running_loop().call_later(
            self.shared.idle_timeout, transport.close
        )

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()


class Responder(asyncio.Protocol):
    """One association, acceptor side, from PDU headers and command-set fields."""

    def __init__(self, host: HostSpec, shared: Shared) -> None:
        self.host = host
        self.shared = shared
        self.counters = shared.counters
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.accepted: dict[int, str] = {}
        self.command = bytearray()
        self.pending: tuple[int, int, int] | None = None  # command, message id, context
        self.done = False  # the association is over; waiting for the peer to close

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.counters.connections += 1
        self.timer = asyncio.get_running_loop().call_later(self.shared.idle_timeout, self.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def linger(self) -> None:
        """PS3.8 Sta13: after A-ASSOCIATE-RJ, A-RELEASE-RP or A-ABORT the acceptor
        waits (ARTIM timer) for the requestor to close the transport."""
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(ARTIM_S, self.close)

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.buffer += data
        while len(self.buffer) >= 6:
            pdu_type, length = _PDU_HEADER.unpack_from(self.buffer)
            if length > _MAX_IN:
                self.counters.protocol_errors += 1
                self.buffer.clear()
                self.abort()
                return
            if len(self.buffer) < 6 + length:
                return
            pdu = bytes(self.buffer[: 6 + length])
            del self.buffer[: 6 + length]
            self.handle(pdu_type, pdu)
            if self.done:
                return

    def abort(self) -> None:
        assert self.transport is not None
        self.counters.aborts_sent += 1
        self.transport.write(ABORT)
        self.linger()

    def handle(self, pdu_type: int, pdu: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if pdu_type == 0x01:  # A-ASSOCIATE-RQ: called AE at bytes 10-25 (PS3.8 Table 9-11)
            self.counters.associate_rq += 1
            if len(pdu) < 74:
                self.counters.protocol_errors += 1
                self.abort()
                return
            called = pdu[10:26].decode("ascii", "replace").strip()
            if self.host.ae_title and called != self.host.ae_title:
                self.counters.associate_rj += 1
                transport.write(RJ_CALLED_AE)
                self.linger()
                return
            variable, self.accepted = self.shared.ac_for(self.host.kind, pdu[74:])
            fixed = pdu[6:74]  # version, reserved, called and calling titles echoed back
            body = fixed + variable
            self.counters.associate_ac += 1
            transport.write(wire.pdu(0x02, body))
        elif pdu_type == 0x04:  # P-DATA-TF
            self.p_data(pdu)
        elif pdu_type == 0x05:  # A-RELEASE-RQ
            self.counters.release_rq += 1
            transport.write(RELEASE_RP)
            self.linger()
        elif pdu_type == 0x07:  # A-ABORT
            self.counters.peer_aborts += 1
            transport.close()
        else:
            self.counters.protocol_errors += 1
            self.abort()

    def p_data(self, pdu: bytes) -> None:
        if self.host.kind == "refuse":
            self.abort()
            return
        offset = 6
        while offset + 6 <= len(pdu):
            (length,) = struct.unpack_from(">L", pdu, offset)
            context_id, control = pdu[offset + 4], pdu[offset + 5]
            value = pdu[offset + 6 : offset + 4 + length]
            offset += 4 + length
            if context_id not in self.accepted:
                self.counters.protocol_errors += 1
                self.abort()
                return
            if control & 1:
                self.command += value
                if control & 2:
                    self.on_command(context_id, bytes(self.command))
                    self.command.clear()
            elif control & 2 and self.pending is not None:
                self.answer(*self.pending)
                self.pending = None

    def on_command(self, context_id: int, data: bytes) -> None:
        fields: dict[int, bytes] = {}
        offset = 0
        while offset + 8 <= len(data):
            _group, element, length = _ELEMENT.unpack_from(data, offset)
            fields[element] = data[offset + 8 : offset + 8 + length]
            offset += 8 + length
        command = struct.unpack("<H", fields.get(0x0100, b"\0\0"))[0]
        message_id = struct.unpack("<H", fields.get(0x0110, b"\0\0"))[0]
        has_data = struct.unpack("<H", fields.get(0x0800, b"\x01\x01"))[0] != 0x0101
        if has_data:
            self.pending = (command, message_id, context_id)
        else:
            self.answer(command, message_id, context_id)

    def answer(self, command: int, message_id: int, context_id: int) -> None:
        transport = self.transport
        assert transport is not None
        abstract, _, syntax = self.accepted[context_id].partition("|")
        if command == 0x0030 and abstract == VERIFICATION:  # C-ECHO-RQ
            self.counters.c_echo += 1
            transport.write(wire.echo_rsp(message_id, context_id))
        elif command == 0x0020 and abstract == STUDY_ROOT_FIND:  # C-FIND-RQ
            self.counters.c_find += 1
            self.counters.find_matches_sent += self.host.matches
            transport.write(
                self.shared.find_reply(self.host.matches, context_id, syntax, message_id)
            )
        elif command == 0x0FFF:  # C-CANCEL-RQ: every response has been sent already
            pass
        else:
            self.counters.protocol_errors += 1
            self.abort()


async def _serve(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    shared = Shared(float(config["idle_timeout"]))
    port = int(config["port"])
    servers = []
    for raw in config["hosts"]:
        host = HostSpec(*raw)
        if host.kind == "closed":
            continue
        if ipaddress.ip_address(host.address) not in LOOPBACK:
            raise SystemExit(f"refusing to bind {host.address}: not loopback")
        factory: Any
        if host.kind == "silent":
            factory = lambda: Silent(shared)  # noqa: E731
        else:
            factory = lambda host=host: Responder(host, shared)  # noqa: E731
        servers.append(
            await loop.create_server(factory, host.address, port, backlog=1024, reuse_address=True)
        )
    stop = asyncio.Event()
    loop.call_later(float(config["time_limit"]), stop.set)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _reply({"ready": len(servers), "pid": os.getpid()})

    async def commands() -> None:
        while True:
            line = await reader.readline()
            if not line or line.strip() == b"stop":  # EOF: the parent went away
                stop.set()
                return
            if line.strip() == b"stats":
                times = os.times()
                _reply({**shared.counters.as_dict(), "cpu_s": times.user + times.system})

    task = asyncio.create_task(commands())
    await stop.wait()
    task.cancel()
    for server in servers:
        server.close()


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main() -> int:
    config = json.loads(sys.stdin.readline())
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if config.get("cpus"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(config["cpus"]))
    asyncio.run(_serve(config))
    return 0


# -- the controller -----------------------------------------------------------


class Lab:
    """Start the responders (in worker processes), expose the ground truth, tear down."""

    def __init__(
        self,
        hosts: int = 1000,
        *,
        network: str = DEFAULT_NETWORK,
        port: int = DEFAULT_PORT,
        mix: Mapping[str, float] | None = None,
        seed: int = 42,
        processes: int = 1,
        cpus: Iterable[int] | None = None,
        time_limit: float = 600.0,
        idle_timeout: float = 30.0,
    ) -> None:
        self.network = network
        self.port = port
        self.hosts = plan_hosts(hosts, network, mix=mix, seed=seed)
        self.processes = max(1, processes)
        self.cpus = sorted(cpus) if cpus else []
        self.time_limit = time_limit
        self.idle_timeout = idle_timeout
        self._workers: list[subprocess.Popen[str]] = []

    # ground truth
    @property
    def addresses(self) -> list[str]:
        return [h.address for h in self.hosts]

    def expected(self, depth: str = "full") -> dict[str, str]:
        """``full``: what a stranger can reach; ``first``: one ANY-SCP association."""
        table = EXPOSURE if depth == "full" else FIRST_ASSOCIATION
        return {h.address: table[h.kind] for h in self.hosts}

    def truth(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for h in self.hosts:
            counts[h.kind] = counts.get(h.kind, 0) + 1
        return {
            "network": self.network,
            "port": self.port,
            "kinds": counts,
            "hosts": [{**asdict(h), "exposure": h.exposure} for h in self.hosts],
        }

    # lifecycle
    def __enter__(self) -> Lab:
        busy = conflicting_listeners(self.port, self.addresses)
        if busy:
            more = f" and {len(busy) - 3} more" if len(busy) > 3 else ""
            raise SystemExit(
                f"something already listens on {', '.join(busy[:3])}{more}: it would answer "
                "for lab addresses; choose another --port"
            )
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        shards: list[list[HostSpec]] = [[] for _ in range(self.processes)]
        for index, host in enumerate(h for h in self.hosts if h.listening):
            shards[index % self.processes].append(host)
        for shard in shards:
            process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self._workers.append(process)
            config = {
                "hosts": [astuple_host(h) for h in shard],
                "port": self.port,
                "time_limit": self.time_limit,
                "idle_timeout": self.idle_timeout,
                "cpus": self.cpus,
            }
            assert process.stdin is not None
            process.stdin.write(json.dumps(config) + "\n")
            process.stdin.flush()
        for process in self._workers:
            ready = self._read(process, timeout=30.0)
            if "ready" not in ready:
                raise RuntimeError(f"lab worker failed to start: {ready}")

    @staticmethod
    def _read(process: subprocess.Popen[str], *, timeout: float) -> dict[str, Any]:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError("lab worker did not answer in time")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"lab worker exited (code {process.poll()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def stats(self) -> dict[str, float]:
        """Counters summed over workers, and the workers' CPU seconds so far."""
        total: dict[str, float] = {}
        for process in self._workers:
            assert process.stdin is not None
            process.stdin.write("stats\n")
            process.stdin.flush()
            for key, value in self._read(process, timeout=10.0).items():
                total[key] = total.get(key, 0) + value
        return total

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._workers]

    def close(self) -> None:
        for process in self._workers:
            with contextlib.suppress(Exception):
                assert process.stdin is not None
                process.stdin.write("stop\n")
                process.stdin.close()
        deadline = time.monotonic() + 5
        for process in self._workers:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._workers.clear()


def astuple_host(host: HostSpec) -> list[Any]:
    return [host.address, host.kind, host.ae_title, host.matches]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=float, metavar="SECONDS", help="serve, then stop")
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--network", default=DEFAULT_NETWORK)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--mix",
        help="shares, e.g. open=0.5,checked=0.1 (closed takes the rest); default: the field mix",
    )
    parser.add_argument("--truth", type=Path, help="write the ground truth (JSON) here")
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main()
    if args.serve is None:
        parser.error("--serve SECONDS is required (the lab always stops itself)")
    seconds = min(args.serve, 3600.0)
    mix = None
    if args.mix:
        mix = {}
        for part in args.mix.split(","):
            kind, _, share = part.partition("=")
            if kind not in KINDS or kind == "closed":
                parser.error(f"unknown kind {kind!r}; kinds: {', '.join(KINDS[1:])}")
            mix[kind] = float(share)
    lab = Lab(
        args.hosts,
        mix=mix,
        network=args.network,
        port=args.port,
        processes=args.processes,
        seed=args.seed,
        time_limit=seconds + 5,
    )
    with lab:
        truth = lab.truth()
        if args.truth:
            args.truth.write_text(json.dumps(truth, indent=1) + "\n")
        print(f"lab: {len(lab.hosts)} hosts in {args.network}, port {args.port}, for {seconds:g} s")
        for kind, n in sorted(truth["kinds"].items()):
            print(f"  {kind:<8} {n:>5}  expect {EXPOSURE[kind]}")
        examples = {}
        for h in lab.hosts:
            examples.setdefault(h.kind, h.address)
        print("  e.g. " + ", ".join(f"{k} {a}" for k, a in sorted(examples.items())))
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(seconds)
        print("lab stats:", json.dumps(lab.stats()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

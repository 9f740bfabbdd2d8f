"""The probe seam: the engine runs whatever the registry holds and names no probe.

A toy probe, defined and registered here, runs through the engine on loopback
listeners of this test: its endpoints are planned from its port list, observed within
the gate, judged by its own verdict, keyed for resume by its own kind, and what it
learns about another port of its host reaches that port's verdict.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import ipaddress
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from exposcan.engine import Engine, skip_key
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probe import Endpoint, HostEvidence, Permit
from exposcan.probes.registry import PROBES, Registration, Registry, endpoint_total
from exposcan.results import TlsFacts, Verdict
from exposcan.scope import TargetSet
from exposcan.vocabulary import Exposure, Protocol, Status

OPTIONS = ScanOptions(
    limits=Limits(rate=100, per_host_rate=100),
    timeouts=Timeouts(connect=1, read=1, release=0.5, endpoint=2),
)
LOOPBACK = int(ipaddress.IPv4Address("127.0.0.1"))


@dataclass(frozen=True, slots=True)
class BannerObservation:
    host: str
    port: int
    banner: str
    protocol: Protocol = Protocol.DIMSE
    tls: TlsFacts | None = None
    duration_s: float = 0.0


class BannerRun:
    def __init__(self, opened: list[str]) -> None:
        self.opened = opened

    async def observe(
        self, endpoint: Endpoint, permit: Permit, evidence: Sequence[HostEvidence] = ()
    ) -> BannerObservation:
        await permit()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), timeout=2
        )
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=2)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return BannerObservation(endpoint.host, endpoint.port, line.decode("ascii").strip())


class BannerProbe:
    """Reads one line; a line ``BANNER <product> <port>`` names the product behind
    another port of the host."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.evidence_seen: dict[int, tuple[HostEvidence, ...]] = {}

    @contextlib.asynccontextmanager
    async def start(self, options: ScanOptions) -> AsyncIterator[BannerRun]:
        self.opened.append("start")
        yield BannerRun(self.opened)
        self.opened.append("stop")

    def verdict(self, observation: BannerObservation, evidence: Sequence[HostEvidence]) -> Verdict:
        self.evidence_seen[observation.port] = tuple(evidence)
        told = evidence[-1].product if evidence else None
        return Verdict(
            exposure=Exposure.PROTECTED,
            status=Status.SUCCESS,
            detail=f"told: {told}" if told else "banner read",
            findings=(),
            fingerprint=None,
            services=(),
            ae_title=None,
            matches=None,
        )

    def attempts(self, observation: BannerObservation) -> int:
        return 7  # not a count the engine could guess

    def learn(self, observation: BannerObservation) -> Iterable[HostEvidence]:
        words = observation.banner.split()
        if len(words) == 3 and words[0] == "BANNER":
            yield HostEvidence(
                host=observation.host,
                port=int(words[2]),
                source="banner",
                source_port=observation.port,
                product=words[1],
            )


@contextlib.asynccontextmanager
async def banner_server(line: bytes) -> AsyncIterator[tuple[int, list[int]]]:
    accepted: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.write(line)
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        server.close()
        await server.wait_closed()


def toy_registry(probe: BannerProbe) -> Registry:
    registry = Registry()
    # The one registration line a new probe adds, here in a registry of its own handed to
    # the engine (``probes=``), so the process's PROBES stays the shipped two for every
    # other test. A private registry holds no other probe, so the toy may borrow DIMSE; a
    # probe registered in PROBES declares a protocol of its own (the echo-line toy,
    # tests/support/toyprobe, run end to end by tests/network/test_toy_probe.py).
    registry.register(
        Registration(
            "banner",
            ports="banner_ports",
            planned=Protocol.DIMSE,
            found=frozenset({Protocol.DIMSE}),
            load=probe,
        )
    )
    return registry


async def test_a_registered_toy_probe_runs_through_the_engine_on_loopback() -> None:
    probe = BannerProbe()
    async with contextlib.AsyncExitStack() as stack:
        second, second_accepted = await stack.enter_async_context(banner_server(b"plain\n"))
        first, accepted = await stack.enter_async_context(
            banner_server(f"BANNER Toyhanc {second}\n".encode())
        )
        engine = Engine(
            TargetSet([(LOOPBACK, LOOPBACK + 1)], []),
            (),  # no DICOM port: the toy's endpoints come from its own port list
            OPTIONS,
            probes=toy_registry(probe),
            more_ports={"banner_ports": (first, second)},
        )
        assert engine.total == 2
        results = [result async for result in engine.run()]
    assert [r.port for r in results] == [first, second]
    assert accepted == [1]
    assert second_accepted == [1]
    assert probe.opened == ["start", "stop"]  # once for the scan, closed after it
    assert {r.status for r in results} == {Status.SUCCESS}
    assert {r.exposure for r in results} == {Exposure.PROTECTED}
    assert {r.attempts for r in results} == {7}
    # What the first port said about the second reached the second's verdict.
    assert probe.evidence_seen[first] == ()
    assert [e.product for e in probe.evidence_seen[second]] == ["Toyhanc"]
    assert results[1].detail == "told: Toyhanc"
    assert engine.learnt == [HostEvidence("127.0.0.1", second, "banner", first, "Toyhanc")]


async def test_the_toy_probe_is_resumed_by_its_own_kind() -> None:
    probe = BannerProbe()
    async with banner_server(b"plain\n") as (port, accepted):
        registry = toy_registry(probe)
        engine = Engine(
            TargetSet([(LOOPBACK, LOOPBACK + 1)], []),
            (),
            OPTIONS,
            probes=registry,
            more_ports={"banner_ports": (port,)},
            skip={("127.0.0.1", port, "dicom")},  # another probe's key: not finished
        )
        assert len([r async for r in engine.run()]) == 1
        engine = Engine(
            TargetSet([(LOOPBACK, LOOPBACK + 1)], []),
            (),
            OPTIONS,
            probes=registry,
            more_ports={"banner_ports": (port,)},
            skip={("127.0.0.1", port, "banner")},
        )
        assert [r async for r in engine.run()] == []
    assert accepted == [1]


def test_every_protocol_belongs_to_exactly_one_registered_probe() -> None:
    kinds = {str(p): PROBES.kind_of(p) for p in Protocol}
    assert kinds == {"dimse": "dicom", "dimse-tls": "dicom", "http": "web", "https": "web"}
    assert skip_key("::1", 104, "dimse-tls") == ("::1", 104, "dicom")
    assert [r.kind for r in PROBES] == ["web", "dicom"]  # web first: it names DICOM ports
    assert {PROBES.ports_of(k) for k in ("web", "dicom")} == {"web_ports", "ports"}


def test_the_registry_refuses_a_second_probe_for_a_kind_protocol_or_port_list() -> None:
    probe = BannerProbe()
    registry = toy_registry(probe)
    for clash in (
        Registration("banner", "other_ports", Protocol.HTTP, frozenset({Protocol.HTTP}), probe),
        Registration("b2", "banner_ports", Protocol.HTTP, frozenset({Protocol.HTTP}), probe),
        Registration(
            "b3", "other_ports", Protocol.HTTP, frozenset({Protocol.HTTP, Protocol.DIMSE}), probe
        ),
        Registration("b4", "other_ports", Protocol.HTTP, frozenset({Protocol.HTTPS}), probe),
    ):
        with pytest.raises(ValueError, match=r"already|protocol of|must include"):
            registry.register(clash)
    assert [r.kind for r in registry] == ["banner"]


def test_one_endpoint_total_counts_every_probes_ports() -> None:
    lists = {"ports": (104, 11112), "web_ports": (8042,), "banner_ports": (1, 2, 3, 4)}
    assert endpoint_total(5, lists) == 15  # no banner probe in the scan's registry
    assert endpoint_total(5, lists, toy_registry(BannerProbe())) == 20


@pytest.mark.parametrize("module", ["exposcan.engine", "exposcan.probing"])
def test_engine_source_names_no_probe(module: str) -> None:
    """The engine (and probing, the one endpoint it hands a probe) reach probes through
    the registry only: no probe module or verdict is imported, and no name or string
    speaks of a registered probe."""
    source = Path(importlib.import_module(module).__file__ or "")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    probes = {m for m in imported if m.startswith("exposcan.probes")}
    assert probes <= {"exposcan.probes.registry"}, probes
    assert not {m for m in imported if m.startswith("exposcan.classify")}
    assert not {m for m in imported if "aiohttp" in m or m.startswith("exposcan.net")}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {
        a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    spoken = {
        n for n in names if any(w in n.lower() for w in ("dimse", "dicom", "web", "classify"))
    }
    # web_ports: the plan's port list the engine is handed, not a probe it calls
    assert spoken <= {"web_ports"}, spoken
    members = {str(p) for p in Protocol} | {p.name for p in Protocol}
    assert not {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} & members
    strings = {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    kinds = {r.kind for r in PROBES}
    assert not strings & (kinds | {str(p) for p in Protocol}), strings & kinds


def test_the_engine_and_the_registry_load_no_probe_until_a_scan_has_its_endpoints() -> None:
    code = (
        "import sys, exposcan.engine\n"
        "from exposcan.probes.registry import PROBES\n"
        "PROBES.kind_of('https')\n"
        "print(sorted(m for m in sys.modules if m.startswith('exposcan.probes.')"
        " and m != 'exposcan.probes.registry'), 'aiohttp' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[] False", proc.stderr

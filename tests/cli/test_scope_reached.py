"""Adversarial: the address actually reached (issue 10, class 1), seen from the listener.

The kernel delivers a connection to ``0.0.0.0`` or ``::`` to this machine's own
loopback, so a scope that excluded 127.0.0.0/8 used to be reached through them
(literally, inside a CIDR, or as what a sinkholed name resolves to). Each test
here has a listener on 127.0.0.1 (and ::1) at the scope's port and asserts both
the refusal and that nothing arrived. Only loopback is ever connected to.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

import exposcan
from exposcan.engine import Engine
from exposcan.errors import OutOfScopeError, PortListError, ScopeError
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.scope.targets import TargetSet
from exposcan.vocabulary import Status
from tests.support.cli_child import run
from tests.support.fakes import FakeResolver

FAST = Timeouts(connect=1, read=1, release=0.5, endpoint=2)
QUICK = ScanOptions(limits=Limits(concurrency=4, rate=100, per_host_rate=100), timeouts=FAST)
LOOPBACKS = ("127.0.0.1", "::1")
V4_LOOPBACK = 0x7F000001


async def hang_up(reader: Any, writer: Any, listener: Any) -> None:
    return None


async def nothing_arrived(listener: Any) -> None:
    await asyncio.sleep(0.2)  # a connection the scanner made would have been accepted by now
    assert listener.accepted == [], "refused, yet a connection reached the loopback listener"


@pytest.mark.parametrize(
    "include",
    [
        ["0.0.0.0"],
        ["::"],
        ["0.0.0.0/30"],
        ["0.0.0.0/8"],
        ["::/126"],
        ["::ffff:0.0.0.0"],
        ["::ffff:0.0.0.0/126"],
        ["::ffff:127.0.0.1"],  # excluded as 127.0.0.1: nothing left to scan
        ["10.0.0.0/8", "0.0.0.0/31"],
    ],
)
async def test_unspecified_and_mapped_includes_reach_nothing(
    include: list[str], listener_factory: Any, write_scope: Any
) -> None:
    listener = await listener_factory(LOOPBACKS, behaviour=hang_up)
    scope = write_scope(include, [listener.port], exclude=["127.0.0.0/8"])
    with pytest.raises(ScopeError) as caught:
        await exposcan.scan(scope, options=QUICK)
    assert "\n" not in str(caught.value)
    await nothing_arrived(listener)


@pytest.mark.parametrize(
    "answers",
    [["0.0.0.0"], ["::"], ["::ffff:127.0.0.1"], ["::ffff:0.0.0.0"], ["0.0.0.0", "::"]],
)
async def test_a_sinkholed_scope_hostname_reaches_nothing(
    answers: list[str], listener_factory: Any, write_scope: Any
) -> None:
    listener = await listener_factory(LOOPBACKS, behaviour=hang_up)
    scope = write_scope(["blocked.example.org"], [listener.port], exclude=["127.0.0.0/8"])
    resolver = FakeResolver({"blocked.example.org": answers})
    with pytest.raises(ScopeError):
        await exposcan.scan(scope, options=QUICK, resolver=resolver)
    await nothing_arrived(listener)


@pytest.mark.parametrize(
    "target",
    [
        "0.0.0.0",
        "::",
        "0.0.0.0/30",
        "::/127",
        "::ffff:127.0.0.1",
        "::ffff:127.0.0.0/120",
        "127.1",
        "0x7f.0.0.1",
        "2130706433",
        "0177.0.0.1",
        "127.0.0.1.",
        "sink-v4.example.org",
        "sink-v6.example.org",
        "mapped.example.org",
    ],
)
async def test_targets_that_reach_the_excluded_loopback_reach_nothing(
    target: str, listener_factory: Any, write_scope: Any
) -> None:
    listener = await listener_factory(LOOPBACKS, behaviour=hang_up)
    # ::1 stays in scope, so the scope itself is fine; 127.0.0.0/8 is excluded.
    scope = write_scope(["127.0.0.0/8", "::1"], [listener.port], exclude=["127.0.0.0/8"])
    resolver = FakeResolver(
        {
            "sink-v4.example.org": ["0.0.0.0"],
            "sink-v6.example.org": ["::"],
            "mapped.example.org": ["::ffff:127.0.0.1"],
        }
    )
    with pytest.raises(OutOfScopeError) as caught:
        await exposcan.scan(scope, [target], options=QUICK, resolver=resolver)
    assert "\n" not in str(caught.value)
    await nothing_arrived(listener)


async def test_a_mapped_target_is_scanned_as_the_ipv4_address(
    listener_factory: Any, write_scope: Any
) -> None:
    """The positive control: the listener does see what the scope allows."""
    listener = await listener_factory(LOOPBACKS, behaviour=hang_up)
    scope = write_scope(["127.0.0.1"], [listener.port])
    report = await exposcan.scan(scope, ["::ffff:127.0.0.1"], options=QUICK)
    assert [r.host for r in report.results] == ["127.0.0.1"]
    assert listener.accepted
    assert {address for address, _ in listener.accepted} == {"127.0.0.1"}


async def test_the_engine_refuses_a_hand_built_target_set(listener_factory: Any) -> None:
    """Defence in depth: a TargetSet built in code (no scope check at all) holding
    0.0.0.0, ::, ::ffff:127.0.0.1 and fe80::1 gets out-of-scope rows and no packet."""
    listener = await listener_factory(LOOPBACKS, behaviour=hang_up)
    mapped = (0xFFFF << 32) | V4_LOOPBACK
    link_local = (0xFE80 << 112) | 1
    targets = TargetSet([(0, 1)], [(0, 1), (mapped, mapped + 1), (link_local, link_local + 1)])
    engine = Engine(targets, (listener.port,), QUICK)
    results = [result async for result in engine.run()]
    assert len(results) == 4
    assert {r.status for r in results} == {Status.OUT_OF_SCOPE}
    await nothing_arrived(listener)


async def test_a_name_is_resolved_once_and_never_again(
    listener_factory: Any, write_scope: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the first answer is in scope, every later one is not. The scan
    connects to the checked address only, over DICOM and HTTP, and no layer (asyncio,
    aiohttp) looks the name up again."""

    class Rebinding(FakeResolver):
        async def __call__(self, hostname: str) -> list[str]:
            self.calls.append(hostname)
            return ["127.0.0.1"] if len(self.calls) == 1 else ["127.0.0.3"]

    asked: list[str] = []
    guarded = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(str(host))
        return guarded(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    dicom = await listener_factory(("127.0.0.1", "127.0.0.3"), behaviour=hang_up)
    web = await listener_factory(("127.0.0.1", "127.0.0.3"), behaviour=hang_up)
    path = write_scope(["rebind.example.org", "127.0.0.3"], [dicom.port], exclude=["127.0.0.3"])
    path.write_text(
        path.read_text(encoding="utf-8") + f"web_ports = [{web.port}]\n", encoding="utf-8"
    )
    resolver = Rebinding()
    report = await exposcan.scan(path, options=QUICK, resolver=resolver)
    assert resolver.calls == ["rebind.example.org"]
    assert {(r.host, r.port) for r in report.results} == {
        ("127.0.0.1", dicom.port),
        ("127.0.0.1", web.port),
    }
    assert all(r.hostname == "rebind.example.org" for r in report.results)
    seen = {address for listener in (dicom, web) for address, _ in listener.accepted}
    assert seen == {"127.0.0.1"}
    assert not any("rebind" in name for name in asked)


async def test_a_selection_without_any_port_is_refused(
    listener_factory: Any, write_scope: Any
) -> None:
    listener = await listener_factory(LOOPBACKS, behaviour=hang_up)
    scope = write_scope(["127.0.0.1"], [listener.port])
    with pytest.raises(PortListError) as caught:
        await exposcan.scan(scope, options=ScanOptions(ports=(), timeouts=FAST))
    assert str(caught.value) == (
        "nothing to scan: no DICOM port and no web port (--ports selects none)"
    )
    await nothing_arrived(listener)


def test_cli_refuses_unspecified_and_empty_selections(
    counting_listener: Any, tmp_path: Any
) -> None:
    from tests.support.scope_files import scope_text

    listener = counting_listener(("127.0.0.1",))
    cases = [
        (["0.0.0.0/30"], [], "0.0.0.0/30 in include of scope file"),
        (["127.0.0.0/8", "::1"], ["0.0.0.0"], "target 0.0.0.0 is the unspecified address"),
        (["127.0.0.1"], ["--ports", ""], "nothing to scan"),
    ]
    for number, (include, extra, words) in enumerate(cases):
        path = tmp_path / f"scope{number}.toml"
        exclude = ["127.0.0.0/8"] if "::1" in include or "0.0.0.0/30" in include else []
        path.write_text(scope_text(include, [listener.port], exclude=exclude), encoding="utf-8")
        proc = run("scan", *extra, "--scope", str(path))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("exposcan: error: ")
        assert words in lines[0]
        assert proc.stdout == ""
    assert listener.accepted == []

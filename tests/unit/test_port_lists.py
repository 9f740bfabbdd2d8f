"""A registered probe's own port list, wherever the built-in ``ports`` and ``web_ports``
go: the registration's name rule, the scope file's key, ``ScanOptions.more_ports``, the
selection and its messages, ``--ports-for``, the header, the one endpoint total. No
socket: the end to end run with a registered probe is tests/network/test_toy_probe.py
(a fresh interpreter), the command line's tests/cli/test_toy_probe_cli.py."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from exposcan.cli import build_parser
from exposcan.cli.scan_args import options_from
from exposcan.decoding import RecordError, build
from exposcan.errors import OptionError, PortListError, ScopeError
from exposcan.options import ScanOptions
from exposcan.probes.registry import PROBES, Registration, Registry, endpoint_total
from exposcan.results import EndpointResult
from exposcan.scan import prepare
from exposcan.scope import parse_scope
from exposcan.scope.endpoints import plan_endpoints
from exposcan.scope.ports import option_for, select_lists
from exposcan.vocabulary import Protocol
from tests.support.scope_toml import assert_one_line, scope_text

#: A registry of the built-in probes' lists and one of a probe's own (its protocol is
#: declared for the process, as test_registry's are: a name no other test uses).
UNIT = Registry(
    Registration("web", "web_ports", "http", {"http", "https"}, "x:y"),
    Registration("dicom", "ports", "dimse", {"dimse", "dimse-tls"}, "x:y"),
    Registration("unit-lists", "unit_ports", "unit-lists-line", {"unit-lists-line"}, "x:y"),
)


def with_own(text: str, ports: str) -> str:
    return text + f"unit_ports = {ports}\n"


@pytest.mark.parametrize("name", ["targets", "hosts", "endpoints", "options", "Ports", "x_port"])
def test_a_port_list_is_named_so_it_is_no_other_header_key(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a port list"):
        Registration("unit-name", name, "unit-lists-line", {"unit-lists-line"}, "x:y")


def test_the_scope_file_names_a_registered_probes_list_by_its_key() -> None:
    text = with_own(scope_text(ports=[104], web_ports=[]), '[7, "7000-7002"]')
    scope = parse_scope(text, source="s.toml", probes=UNIT)
    assert scope.more_ports == {"unit_ports": (7, 7000, 7001, 7002)}
    assert scope.port_list("unit_ports") == (7, 7000, 7001, 7002)
    assert scope.port_list("ports") == (104,)
    assert scope.to_dict()["unit_ports"] == [7, 7000, 7001, 7002]
    # Its ports are checked as ports' are, the message naming its key.
    with pytest.raises(ScopeError) as caught:
        parse_scope(with_own(scope_text(), "[70000]"), source="s.toml", probes=UNIT)
    assert "in unit_ports of scope file s.toml" in assert_one_line(caught.value)


def test_a_list_no_registered_probe_takes_is_an_unknown_key() -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope(with_own(scope_text(), "[7]"), source="s.toml")  # PROBES: no unit_ports
    message = assert_one_line(caught.value)
    assert "unknown key 'unit_ports' in [scope] of scope file s.toml" in message
    assert "(expected: include, exclude, ports, web_ports, site" in message


def test_the_digest_holds_a_probes_own_list_only_when_it_lists_ports() -> None:
    plain = scope_text(ports=[104], web_ports=[])
    before = parse_scope(plain, source="s.toml").digest  # as every scope file before it
    assert parse_scope(plain, source="s.toml", probes=UNIT).digest == before
    assert parse_scope(with_own(plain, "[]"), source="s.toml", probes=UNIT).digest == before
    listed = parse_scope(with_own(plain, "[7]"), source="s.toml", probes=UNIT)
    assert listed.digest != before


def test_a_scope_of_empty_lists_only_names_them_all() -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope(
            with_own(scope_text(ports=[], web_ports=[]), "[]"), source="s.toml", probes=UNIT
        )
    assert "[scope] ports (DICOM), web_ports and unit_ports are all empty" in assert_one_line(
        caught.value
    )
    with pytest.raises(ScopeError, match=r"ports \(DICOM\) and web_ports are both empty"):
        parse_scope(scope_text(ports=[], web_ports=[]), source="s.toml")


def test_more_ports_holds_probes_own_lists_of_ports() -> None:
    options = ScanOptions(more_ports={"unit_ports": [7, 8]})  # as a header reads back
    assert options.more_ports == {"unit_ports": (7, 8)}
    assert options.requested_ports("unit_ports") == (7, 8)
    assert options.requested_ports("other_ports") is None  # the scope's
    assert options.requested_ports("ports") is None
    assert options.to_dict()["more_ports"] == {"unit_ports": [7, 8]}
    assert ScanOptions.from_dict(options.to_dict()) == options
    # Options without one write the header they always did.
    assert "more_ports" not in ScanOptions().to_dict()
    assert ScanOptions.from_dict(ScanOptions().to_dict()) == ScanOptions()
    for bad, words in (
        ({"ports": (104,)}, "not a probe's own port list"),
        ({"unit_ports": "7"}, "not a list of ports"),
        ({"unit_ports": (0,)}, "0 in unit_ports is not a port"),
        ({"unit_ports": (True,)}, "True in unit_ports is not a port"),
    ):
        with pytest.raises(OptionError, match=words):
            ScanOptions(more_ports=bad)


async def test_prepare_refuses_a_list_no_registered_probe_takes() -> None:
    scope = parse_scope(scope_text(["127.0.0.1"], ports=[104]), source="s.toml")
    with pytest.raises(OptionError) as caught:
        await prepare(scope, options=ScanOptions(more_ports={"unit_ports": (7,)}))
    assert assert_one_line(caught.value) == (
        "more_ports: no registered probe takes a port list named 'unit_ports' "
        "(port lists: web_ports, ports)"
    )


async def test_a_plan_of_the_built_in_lists_writes_the_header_it_always_did() -> None:
    scope = parse_scope(scope_text(["127.0.0.1"], ports=[104], web_ports=[8042]))
    plan = await prepare(scope)
    assert plan.more_ports == {}
    assert plan.port_lists == {"ports": (104,), "web_ports": (8042,)}
    header = plan.header()
    assert [k for k in header if k.endswith("ports")] == ["ports", "web_ports"]
    assert header["endpoints"] == plan.total == 2


async def test_a_broker_run_refuses_a_plan_with_a_probes_own_list() -> None:
    """Shard jobs carry ports and web_ports only: such a plan is refused as it is given
    a broker's source, not run with that list left unprobed."""
    plan = await prepare(parse_scope(scope_text(["127.0.0.1"], ports=[104])))
    own = dataclasses.replace(plan, more_ports={"unit_ports": (7,)})
    assert own.total == 1  # counted by the registry's probes: PROBES has no unit_ports
    assert dataclasses.replace(plan, source=lambda *_: None).source is not None
    with pytest.raises(OptionError) as caught:
        dataclasses.replace(own, source=lambda *_: None)
    assert assert_one_line(caught.value) == (
        "a scan run by a broker's workers (--broker) probes ports and web_ports only, not "
        "unit_ports: run it without --broker"
    )


def test_the_selection_of_every_list_and_its_messages() -> None:
    names = UNIT.port_lists()
    allowed = {"ports": (104,), "web_ports": (), "unit_ports": (7, 8)}
    assert select_lists(names, {"unit_ports": (8,)}, allowed) == {
        "web_ports": (),
        "ports": (104,),
        "unit_ports": (8,),
    }
    assert option_for("unit_ports") == "--ports-for unit_ports"
    with pytest.raises(PortListError) as caught:
        select_lists(names, {"unit_ports": (9,)}, allowed)
    assert assert_one_line(caught.value) == (
        "--ports-for unit_ports names port 9 which the scope does not list (scope unit_ports: 7, 8)"
    )
    with pytest.raises(PortListError) as caught:
        select_lists(names, {"unit_ports": (), "ports": ()}, allowed)
    assert assert_one_line(caught.value) == (
        "nothing to scan: no DICOM port, no web port and none in unit_ports "
        "(--ports selects none; --ports-for unit_ports selects none)"
    )
    # The built-in lists alone: the message it always was.
    with pytest.raises(PortListError) as caught:
        select_lists(("web_ports", "ports"), {"ports": ()}, allowed)
    assert assert_one_line(caught.value) == (
        "nothing to scan: no DICOM port and no web port (--ports selects none)"
    )


def test_one_endpoint_total_counts_a_probes_own_list() -> None:
    lists = {"ports": (104,), "web_ports": (8042,), "unit_ports": (7, 8, 9)}
    assert endpoint_total(10, lists, UNIT) == 50
    assert endpoint_total(10, lists, PROBES) == 20  # no such probe in the scan's registry


def scan_args(*words: str) -> argparse.Namespace:
    return build_parser().parse_args(["scan", "--scope", "s.toml", *words])


def test_ports_for_a_built_in_list_is_its_own_option() -> None:
    options = options_from(scan_args("--ports-for", "ports=104,4242-4243"))
    assert options.ports == (104, 4242, 4243)
    assert options_from(scan_args("--ports-for", "web_ports=8042")).web_ports == (8042,)
    assert options_from(scan_args("--ports-for", "web_ports=")).web_ports == ()
    assert options_from(scan_args()).more_ports == {}


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (
            ("--ports-for", "nope_ports=7"),
            "--ports-for: no registered probe takes a port list named 'nope_ports' "
            "(port lists: web_ports, ports)",
        ),
        (
            ("--ports-for", "ports"),
            "--ports-for takes NAME=LIST (a port list's name and its ports, e.g. "
            "echo_ports=7,7000-7010), not 'ports'",
        ),
        (("--ports-for", "=104"), "--ports-for takes NAME=LIST"),
        (("--ports-for", "ports=1", "--ports-for", "ports=2"), "--ports-for names ports twice"),
        (("--ports-for", "ports=1", "--ports", "2"), "--ports-for ports= and --ports name one"),
        (
            ("--ports-for", "web_ports=1", "--web-ports", "2"),
            "--ports-for web_ports= and --web-ports name one",
        ),
        (("--ports-for", "ports=1-x"), "bad port list for --ports-for ports: '1-x'"),
    ],
)
def test_ports_for_refuses_in_one_line(words: tuple[str, ...], message: str) -> None:
    with pytest.raises((OptionError, PortListError)) as caught:
        options_from(scan_args(*words))
    assert assert_one_line(caught.value).startswith(message)


def test_an_unknown_protocol_is_refused_among_every_registered_one() -> None:
    """The message lists what the lookup accepts: the built-ins and every protocol a
    registration declared (UNIT's above), not the enum's fixed members alone."""
    record = {"host": "127.0.0.1", "port": 7, "protocol": "gopher"}
    record |= {"status": "success", "exposure": "none"}
    with pytest.raises(RecordError) as caught:
        build(EndpointResult, record)
    listed = str(caught.value).removeprefix("protocol: 'gopher' is not one of ").split(", ")
    assert listed == [str(p) for p in Protocol.known()]
    assert "unit-lists-line" in listed
    assert listed[:4] == [str(p) for p in Protocol]


async def test_a_listed_scan_gives_a_port_to_the_probe_whose_own_list_holds_it() -> None:
    scope = parse_scope(scope_text(["127.0.0.0/30"], ports=[104]))
    lists = {"ports": (104,), "web_ports": (), "unit_ports": (7,)}
    pairs = [("127.0.0.1", 7), ("127.0.0.2", 104), ("127.0.0.2", 7), ("127.0.0.1", 22)]
    targets, listed = await plan_endpoints(scope, pairs, lists, probes=UNIT)
    assert targets.count == 2
    walked = [(r.kind, e.host, e.port) for r, e in listed.walk(UNIT)]
    assert walked == [
        ("dicom", "127.0.0.2", 104),
        ("unit-lists", "127.0.0.1", 7),
        ("unit-lists", "127.0.0.2", 7),
    ]
    assert listed.total(UNIT) == 3
    assert listed.ignored_ports == (22,)
    assert listed.ignored_warning() == (
        "1 open endpoint in the endpoint list not probed: port 22 is in none of the scan's "
        "port lists (ports, web_ports, unit_ports)"
    )
    with pytest.raises(PortListError) as caught:
        await plan_endpoints(scope, [("127.0.0.1", 22)], lists, probes=UNIT)
    assert assert_one_line(caught.value).endswith(
        "(ports 104, web_ports none, unit_ports 7); add it to the scope file's ports, "
        "web_ports or unit_ports to probe it"
    )

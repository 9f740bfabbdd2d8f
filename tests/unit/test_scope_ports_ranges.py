"""Scope-file ``ports`` and ``web_ports`` take ranges as ``--ports`` does (issue 12, item 11):
``ports = [104, "11112", "4242-4250"]``, bounded by the port space, every error one line
naming the scope file."""

from __future__ import annotations

import pytest

from exposcan.errors import PortListError, ScopeError
from exposcan.scope import parse_port_list, parse_scope
from tests.support.scope_toml import assert_one_line

BASE = """[authorisation]
owner = "Example Hospital IT Security"
reference = "CHG-2026-0042"
expires = 2999-12-31

[scope]
include = ["10.20.0.0/16"]
"""


def scope_with(ports: str, key: str = "ports") -> str:
    return BASE + f"{key} = {ports}\n"


def test_ranges_and_strings_expand_in_file_order_without_repeats() -> None:
    scope = parse_scope(
        scope_with('[104, "11112", "4242-4245", 4243, "2761, 2762"]'), source="s.toml"
    )
    assert scope.ports == (104, 11112, 4242, 4243, 4244, 4245, 2761, 2762)
    web = parse_scope(scope_with('["8042", "8080-8081"]', "web_ports"), source="s.toml")
    assert web.web_ports == (8042, 8080, 8081)


def test_a_range_and_its_ports_give_the_same_scope_digest() -> None:
    written = parse_scope(scope_with('["4242-4244"]'), source="a.toml")
    listed = parse_scope(scope_with("[4242, 4243, 4244]"), source="b.toml")
    assert written.digest == listed.digest
    assert written.digest != parse_scope(scope_with("[4242, 4243]"), source="c.toml").digest


def test_the_whole_port_space_is_the_bound() -> None:
    # Many overlapping wide ranges cost no more than one: 65,535 ports at most.
    scope = parse_scope(scope_with("[" + ", ".join(['"1-65535"'] * 2000) + "]"), source="s.toml")
    assert len(scope.ports) == 65535
    assert scope.ports[0] == 1
    assert scope.ports[-1] == 65535


@pytest.mark.parametrize(
    ("ports", "needle"),
    [
        (
            '["4250-4242"]',
            "bad port '4250-4242' in ports of scope file s.toml (range 4250-4242 is reversed)",
        ),
        ('["0-10"]', "(port 0 is not in 1-65535)"),
        ('["1-70000"]', "(port 70000 is not in 1-65535)"),
        ('["dicom"]', "('dicom' is not a port or a range)"),
        ('[""]', "(empty entry)"),
        ('["104,,105"]', "(empty entry)"),
        ("[1.5]", "(a number, not a port number or a range"),
        ("[true]", "(a boolean, not a port number or a range"),
        ("[70000]", "bad port 70000 in ports of scope file s.toml (ports are 1-65535)"),
        ('"104"', "[scope] ports of scope file s.toml must be a list of port numbers or ranges"),
    ],
)
def test_bad_ports_are_one_line_naming_the_scope_file(ports: str, needle: str) -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_with(ports), source="s.toml")
    message = assert_one_line(caught.value)
    assert "scope file s.toml" in message
    assert needle in message


def test_web_ports_errors_name_their_key() -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_with('["8080-80"]', "web_ports"), source="s.toml")
    assert "in web_ports of scope file s.toml" in assert_one_line(caught.value)


def test_command_line_port_lists_unchanged() -> None:
    assert parse_port_list("104,4242-4244, 104") == (104, 4242, 4243, 4244)
    with pytest.raises(PortListError) as caught:
        parse_port_list("4244-4242", option="--web-ports")
    assert (
        str(caught.value)
        == "bad port list for --web-ports: '4244-4242' (range 4244-4242 is reversed)"
    )

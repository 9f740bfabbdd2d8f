"""Scope files, authorisation, target expansion and port lists.

No test here resolves a real name except ``localhost``: every hostname goes
through :class:`FakeResolver`, and an autouse guard fails any test that asks
the system resolver about anything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import itertools
import json
import pickle
import re
import socket
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exposcan.errors import (
    AuthorisationError,
    OutOfScopeError,
    PortListError,
    ScopeError,
    UserError,
)
from exposcan.scope import (
    DEFAULT_PORTS,
    Authorisation,
    Host,
    Scope,
    TargetSet,
    default_resolver,
    load_scope,
    parse_port_list,
    parse_scope,
    resolve_targets,
    select_ports,
)
from tests.support.fakes import FakeResolver
from tests.support.scope_toml import FAR_FUTURE, assert_one_line, make_scope, scope_text

# --------------------------------------------------------------------------- helpers


def addresses(targets: TargetSet) -> list[str]:
    return [host.address for host in targets]


# --------------------------------------------------------------------------- parsing


def test_parse_design_example() -> None:
    text = """
[authorisation]
owner = "Example Hospital IT Security"
reference = "CHG-2026-0042"      # ticket or contract that authorises the scan
expires = 2026-12-31             # refuse to scan after this date

[scope]
include = ["10.20.0.0/16", "pacs.example.org"]
exclude = ["10.20.5.0/24"]
ports = [104, 11112, 4242, 2761, 2762]
web_ports = [8042, 8080, 443]
"""
    scope = parse_scope(text, source="design.toml")
    assert scope.authorisation == Authorisation(
        owner="Example Hospital IT Security",
        reference="CHG-2026-0042",
        expires=datetime.date(2026, 12, 31),
    )
    assert scope.authorisation.source == "design.toml"
    assert scope.include == ("10.20.0.0/16", "pacs.example.org")
    assert scope.exclude == ("10.20.5.0/24",)
    assert scope.ports == (104, 11112, 4242, 2761, 2762)
    assert scope.web_ports == (8042, 8080, 443)
    assert scope.source == "design.toml"
    assert scope.digest.startswith("sha256:")
    assert len(scope.digest) == len("sha256:") + 64


def test_entries_are_normalised() -> None:
    scope = make_scope(
        ["10.20.0.0/16", "PACS.Example.ORG.", "2001:DB8:0:0::/64", " 192.0.2.1 ", "2001:db8::1"],
        ["10.20.5.0/255.255.255.0"],
    )
    assert scope.include == (
        "10.20.0.0/16",
        "pacs.example.org",
        "2001:db8::/64",
        "192.0.2.1",
        "2001:db8::1",
    )
    assert scope.exclude == ("10.20.5.0/24",)


def test_port_defaults_and_explicit_empty_lists() -> None:
    defaults = parse_scope(scope_text())
    assert defaults.ports == DEFAULT_PORTS == (104, 11112, 4242, 2761, 2762)
    assert defaults.web_ports == ()
    assert defaults.exclude == ()

    dicom_only = parse_scope(scope_text(ports=[104], web_ports=[]))
    assert dicom_only.web_ports == ()
    web_only = parse_scope(scope_text(ports=[], web_ports=[8042]))
    assert web_only.ports == ()
    assert web_only.web_ports == (8042,)
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_text(ports=[], web_ports=[]), source="s.toml")
    assert assert_one_line(caught.value).startswith("scope file s.toml lists no port: ")

    repeated = parse_scope(scope_text(ports=[11112, 104, 11112]))
    assert repeated.ports == (11112, 104)


def test_expires_as_offset_datetime_is_kept_as_written() -> None:
    """Issue 10 class 6: it used to be truncated to its date (hours of extra scanning)."""
    scope = parse_scope(scope_text(expires="2026-12-02T00:00:01Z"))
    expires = scope.authorisation.expires
    assert expires == datetime.datetime(2026, 12, 2, 0, 0, 1, tzinfo=datetime.UTC)
    assert scope.authorisation.expires_at == expires
    offset = parse_scope(scope_text(expires="2026-12-02T01:30:00+05:30")).authorisation
    assert offset.expires_at == datetime.datetime(2026, 12, 1, 20, 0, tzinfo=datetime.UTC)
    assert offset.to_dict()["expires"] == "2026-12-02T01:30:00+05:30"


def test_to_dict_is_json_ready() -> None:
    scope = make_scope(["10.20.0.0/16"], ["10.20.5.0/24"])
    data = scope.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["authorisation"] == {
        "owner": "Example Hospital IT Security",
        "reference": "CHG-2026-0042",
        "expires": "2999-12-31",
    }
    assert data["include"] == ["10.20.0.0/16"]
    assert data["exclude"] == ["10.20.5.0/24"]
    assert data["ports"] == list(DEFAULT_PORTS)
    assert data["digest"] == scope.digest
    assert data["source"] == "scope.toml"


def test_scope_and_authorisation_pickle_and_hash() -> None:
    scope = make_scope()
    again = pickle.loads(pickle.dumps(scope))
    assert again == scope
    assert again.digest == scope.digest
    assert hash(again) == hash(scope)


# --------------------------------------------------------------------------- digest


def test_digest_ignores_comments_formatting_and_order() -> None:
    plain = parse_scope(scope_text(["10.20.0.0/16", "pacs.example.org"], ["10.20.5.0/24"]))
    reformatted = parse_scope(
        """
# Scope for the quarterly PACS review.
[scope]
exclude   = [ "10.20.5.0/24" ]   # the lab network
include = [
    "10.20.0.0/255.255.0.0", # a netmask is normalised to its prefix length
    "PACS.example.org",
]

[authorisation]
expires = 2999-12-31
reference = 'CHG-2026-0042'
owner = "Example Hospital IT Security"
""",
        source="other-name.toml",
    )
    assert reformatted.digest == plain.digest
    explicit_defaults = parse_scope(
        scope_text(["10.20.0.0/16", "pacs.example.org"], ["10.20.5.0/24"], ports=DEFAULT_PORTS)
    )
    assert explicit_defaults.digest == plain.digest


@pytest.mark.parametrize(
    "change",
    [
        {"ports": [104]},
        {"web_ports": [8042]},
        {"exclude": ["10.20.6.0/24"]},
        {"include": ["10.21.0.0/16"]},
        {"expires": "2999-12-30"},
        {"reference": "CHG-2026-0043"},
        {"owner": "Someone else"},
    ],
)
def test_digest_changes_with_content(change: dict[str, Any]) -> None:
    base = parse_scope(scope_text())
    assert parse_scope(scope_text(**change)).digest != base.digest


def test_digest_follows_replace() -> None:
    scope = make_scope()
    narrower = dataclasses.replace(scope, ports=(104,))
    assert narrower.digest != scope.digest
    assert narrower.digest == parse_scope(scope_text(ports=[104]), source="x").digest


# --------------------------------------------------------------------------- authorisation


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)  # type: ignore[misc]


def test_expired_authorisation_is_refused() -> None:
    scope = parse_scope(scope_text(expires="2026-01-01"), source="old.toml")
    with pytest.raises(AuthorisationError) as caught:
        scope.authorisation.check(utc(2026, 1, 2))
    assert assert_one_line(caught.value) == (
        "authorisation CHG-2026-0042 expired at 2026-01-01T23:59:59.999999+00:00 "
        "(the end of 2026-01-01, UTC) (scope file old.toml)"
    )


def test_a_bare_date_holds_until_the_end_of_that_day_in_utc() -> None:
    authorisation = parse_scope(scope_text(expires="2026-01-01")).authorisation
    assert authorisation.expires_at == utc(2026, 1, 1, 23, 59, 59, 999999)
    authorisation.check(utc(2025, 6, 1))
    authorisation.check(utc(2026, 1, 1, 0, 0))
    authorisation.check(utc(2026, 1, 1, 23, 59, 59, 999999))
    with pytest.raises(AuthorisationError):
        authorisation.check(utc(2026, 1, 2))
    # The same instant seen from another zone: 2026-01-02 00:30 in UTC+1 is still the 1st.
    plus_one = datetime.timezone(datetime.timedelta(hours=1))
    authorisation.check(datetime.datetime(2026, 1, 2, 0, 30, tzinfo=plus_one))


def test_an_offset_datetime_expires_at_that_instant() -> None:
    authorisation = parse_scope(scope_text(expires="2026-12-02T00:00:01Z")).authorisation
    authorisation.check(utc(2026, 12, 2, 0, 0, 1))
    with pytest.raises(AuthorisationError) as caught:
        authorisation.check(utc(2026, 12, 2, 0, 0, 1, 1))
    assert "expired at 2026-12-02T00:00:01+00:00 " in assert_one_line(caught.value)
    with pytest.raises(AuthorisationError):
        authorisation.check(utc(2026, 12, 2, 6, 0))  # the hours the date truncation allowed


def test_check_defaults_to_the_wall_clock_and_wants_an_aware_now() -> None:
    now = datetime.datetime.now(datetime.UTC)
    Authorisation(owner="o", reference="r", expires=now + datetime.timedelta(hours=1)).check()
    with pytest.raises(AuthorisationError):
        Authorisation(owner="o", reference="r", expires=now - datetime.timedelta(seconds=1)).check()
    with pytest.raises(TypeError):
        Authorisation(owner="o", reference="r", expires=FAR_FUTURE).check(
            datetime.datetime(2026, 1, 1)  # naive: which zone?
        )


async def test_resolve_targets_refuses_expired_scope_before_resolving() -> None:
    scope = parse_scope(scope_text(["pacs.example.org"], expires="2026-01-01"))
    resolver = FakeResolver({"pacs.example.org": ["10.0.0.1"]})
    with pytest.raises(AuthorisationError, match=re.escape("at 2026-01-01T23:59:59.999999")):
        await resolve_targets(scope, resolver=resolver, now=utc(2026, 1, 2))
    assert resolver.calls == []
    ok = await resolve_targets(scope, resolver=resolver, now=utc(2026, 1, 1, 12))
    assert ok.count == 1


def test_missing_authorisation_section() -> None:
    text = '[scope]\ninclude = ["10.0.0.0/8"]\n'
    with pytest.raises(AuthorisationError) as caught:
        parse_scope(text, source="s.toml")
    message = assert_one_line(caught.value)
    assert message.startswith("scope file s.toml has no [authorisation] section: ")


@pytest.mark.parametrize("field", ["owner", "reference", "expires"])
def test_missing_authorisation_field(field: str) -> None:
    lines = [line for line in scope_text().splitlines() if not line.startswith(field)]
    with pytest.raises(AuthorisationError) as caught:
        parse_scope("\n".join(lines), source="s.toml")
    assert assert_one_line(caught.value).startswith(
        f"scope file s.toml has no [authorisation] {field}: "
    )


@pytest.mark.parametrize("field", ["owner", "reference"])
def test_empty_authorisation_field(field: str) -> None:
    with pytest.raises(
        AuthorisationError, match=re.escape(f"has no [authorisation] {field}: it is empty")
    ):
        parse_scope(scope_text(**{field: "   "}), source="s.toml")


@pytest.mark.parametrize(
    ("expires", "needle"),
    [
        ('"2026-12-31"', "without quotes"),
        ("20261231", "an integer"),
        ("12:00:00", "a time"),
    ],
)
def test_expires_must_be_a_date(expires: str, needle: str) -> None:
    with pytest.raises(AuthorisationError) as caught:
        parse_scope(scope_text(expires=expires), source="s.toml")
    message = assert_one_line(caught.value)
    assert "expires of scope file s.toml" in message
    assert needle in message


@pytest.mark.parametrize("bad", ["\nforged line", "\x1b]0;title\x07", "\x9b2J", "\u202egnp.exe"])
def test_authorisation_rejects_control_characters(bad: str) -> None:
    """C0, C1 and bidi controls would move, hide or reorder text on a terminal."""
    with pytest.raises(AuthorisationError, match="control or bidi character"):
        parse_scope(scope_text(reference="CHG-1" + bad))
    with pytest.raises(AuthorisationError, match="control or bidi character"):
        parse_scope(scope_text(owner="IT" + bad))
    assert parse_scope(scope_text(owner="Radiology\u200cIT")).authorisation.owner  # ZWNJ is text


def test_a_scope_file_name_with_a_newline_keeps_messages_on_one_line() -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope("[scope\n", source="evil\nexposcan: error: forged.toml")
    assert "forged.toml" in assert_one_line(caught.value)
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_text(["0.0.0.0"]), source="a\rb.toml")
    assert_one_line(caught.value)
    assert "\r" not in str(caught.value)


def test_authorisation_section_must_be_a_table() -> None:
    with pytest.raises(AuthorisationError, match=re.escape("has no [authorisation] section")):
        parse_scope('authorisation = "yes"\n[scope]\ninclude = ["10.0.0.1"]\n')


# --------------------------------------------------------------------------- malformed files


def test_bad_toml_names_file_and_position() -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope('[authorisation]\nowner = "x"\nreference = \n', source="bad.toml")
    message = assert_one_line(caught.value)
    assert message.startswith("scope file bad.toml is not valid TOML: ")
    assert "line 3" in message


@pytest.mark.parametrize(
    ("old", "new", "where", "name"),
    [
        ("exclude =", "exlude =", "in [scope]", "exlude"),
        ("ports =", "port =", "in [scope]", "port"),
        ("[scope]", "[scop]", "at top level", "scop"),
        ("[authorisation]", "[authorization]", "at top level", "authorization"),
        ("owner =", "ower =", "in [authorisation]", "ower"),
    ],
)
def test_unknown_keys_are_named(old: str, new: str, where: str, name: str) -> None:
    text = scope_text(exclude=["10.20.5.0/24"], ports=[104]).replace(old, new, 1)
    with pytest.raises(ScopeError) as caught:
        parse_scope(text, source="typo.toml")
    message = assert_one_line(caught.value)
    assert f"unknown key {name!r} {where} of scope file typo.toml" in message
    assert "did you mean" in message


def test_unknown_nested_table_is_named() -> None:
    text = scope_text() + "[scope.extra]\nx = 1\n"
    with pytest.raises(ScopeError, match=re.escape("unknown key 'extra' in [scope]")):
        parse_scope(text)


def test_missing_scope_section_and_include() -> None:
    auth = scope_text().split("[scope]")[0]
    with pytest.raises(ScopeError, match=re.escape("has no [scope] section")):
        parse_scope(auth)
    with pytest.raises(ScopeError, match=re.escape("has no [scope] include")):
        parse_scope(auth + "[scope]\nports = [104]\n")
    with pytest.raises(ScopeError, match=re.escape("include of scope file s.toml is empty")):
        parse_scope(scope_text(include=[]), source="s.toml")


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("10.20.0.0/33", "bad address or CIDR"),
        ("10.20.0.300", "bad address or CIDR"),
        ("300.1.1.1", "bad address or CIDR"),
        ("1.2.3.4.5", "bad address or CIDR"),
        ("256.1", "bad address or CIDR"),
        ("2001:db8::/129", "bad address or CIDR"),
        ("2001:db8:::1", "bad address or CIDR"),
        ("pacs.example.org/24", "bad address or CIDR"),
        ("foo_bar.example.org", "bad hostname"),
        ("-pacs.example.org", "bad hostname"),
        ("pacs-.example.org", "bad hostname"),
        ("a..example.org", "bad hostname"),
        ("*.example.org", "bad hostname"),
        ("pacs example", "bad hostname"),
        ("x" * 64 + ".example.org", "bad hostname"),
        ("ünicode.example", "bad hostname"),
        ("", "empty entry"),
    ],
)
def test_bad_entries(entry: str, kind: str) -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_text(["10.0.0.0/8", entry]), source="s.toml")
    assert assert_one_line(caught.value) == f"{kind} {entry!r} in include of scope file s.toml"
    with pytest.raises(ScopeError, match=re.escape("in exclude of scope file s.toml")):
        parse_scope(scope_text(["10.0.0.0/8"], [entry]), source="s.toml")


def test_overlong_hostname_is_refused_and_shown_short() -> None:
    name = ".".join(["abcdefghi"] * 26)  # 259 characters, every label fine
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_text([name]), source="s.toml")
    message = assert_one_line(caught.value)
    assert message.startswith("bad hostname 'abcdefghi.abcdefghi")
    assert message.endswith("... in include of scope file s.toml")
    assert len(message) < 160
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters
    assert parse_scope(scope_text([longest])).include == (longest,)


def test_non_string_entries_and_wrong_types() -> None:
    base = scope_text().split("[scope]")[0] + "[scope]\n"
    with pytest.raises(ScopeError, match="bad entry 42 in include"):
        parse_scope(base + "include = [42]\n")
    with pytest.raises(ScopeError, match="include of scope file <string> must be a list"):
        parse_scope(base + 'include = "10.0.0.0/8"\n')
    with pytest.raises(ScopeError, match="exclude of scope file <string> must be a list"):
        parse_scope(base + 'include = ["10.0.0.0/8"]\nexclude = "10.0.0.1"\n')


@pytest.mark.parametrize(
    ("ports", "needle"),
    [
        ("[0]", "bad port 0 in ports"),
        ("[65536]", "bad port 65536 in ports"),
        ("[-1]", "bad port -1 in ports"),
        ('["104x"]', "bad port '104x' in ports"),
        ("[true]", "bad port True in ports"),
        ("[104.0]", "bad port 104.0 in ports"),
        ("104", "ports of scope file s.toml must be a list"),
    ],
)
def test_bad_scope_ports(ports: str, needle: str) -> None:
    text = scope_text() + f"ports = {ports}\n"
    with pytest.raises(ScopeError) as caught:
        parse_scope(text, source="s.toml")
    message = assert_one_line(caught.value)
    assert needle in message
    assert "s.toml" in message
    with pytest.raises(ScopeError, match="web_ports"):
        parse_scope(scope_text() + f"web_ports = {ports}\n", source="s.toml")


# --------------------------------------------------------------------------- load_scope


def test_load_scope_from_file(tmp_path: Path) -> None:
    path = tmp_path / "scope.toml"
    path.write_text(scope_text(), encoding="utf-8")
    scope = load_scope(path)
    assert scope.source == str(path)
    assert scope.authorisation.source == str(path)
    assert scope.digest == parse_scope(scope_text()).digest
    assert load_scope(str(path)) == scope


def test_load_scope_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ScopeError) as caught:
        load_scope(path)
    assert assert_one_line(caught.value) == (
        f"cannot read scope file {path}: No such file or directory"
    )


def test_load_scope_directory(tmp_path: Path) -> None:
    with pytest.raises(ScopeError, match=r"cannot read scope file .*: Is a directory"):
        load_scope(tmp_path)


def test_load_scope_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(scope_text().replace("Example Hospital", "H\xf4pital").encode("latin-1"))
    with pytest.raises(ScopeError, match=re.escape("latin1.toml is not UTF-8 text")):
        load_scope(path)


def test_load_scope_bad_toml_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[scope\ninclude = [", encoding="utf-8")
    with pytest.raises(ScopeError) as caught:
        load_scope(path)
    message = assert_one_line(caught.value)
    assert str(path) in message
    assert "line 1" in message


# --------------------------------------------------------------------------- expansion


async def test_whole_scope_with_network_exclude() -> None:
    scope = make_scope(["10.20.0.0/16"], ["10.20.5.0/24"])
    targets = await resolve_targets(scope)
    assert targets.count == 65536 - 256
    assert "10.20.4.255" in targets
    assert "10.20.5.0" not in targets
    assert "10.20.5.255" not in targets
    assert "10.20.6.0" in targets
    seen = addresses(targets)
    assert len(seen) == targets.count
    assert "10.20.5.7" not in seen
    assert seen[0] == "10.20.0.0"  # the network address is included
    assert seen[-1] == "10.20.255.255"  # and so is the broadcast address


async def test_overlapping_includes_counted_once() -> None:
    scope = make_scope(["10.0.0.0/24", "10.0.0.128/25", "10.0.0.7", "10.0.1.0/24", "10.0.0.0/23"])
    targets = await resolve_targets(scope)
    assert targets.count == 512
    seen = addresses(targets)
    assert len(seen) == len(set(seen)) == 512
    assert list(targets.intervals()) == [("10.0.0.0", "10.0.1.255")]


async def test_iteration_order_ipv4_then_ipv6_ascending() -> None:
    scope = make_scope(["2001:db8::8/126", "10.0.0.9", "192.0.2.0/31", "10.0.0.1", "::1"])
    targets = await resolve_targets(scope)
    assert addresses(targets) == [
        "10.0.0.1",
        "10.0.0.9",
        "192.0.2.0",
        "192.0.2.1",
        "::1",
        "2001:db8::8",
        "2001:db8::9",
        "2001:db8::a",
        "2001:db8::b",
    ]
    assert all(isinstance(host, Host) and host.hostname is None for host in targets)


async def test_ipv6_include_and_exclude() -> None:
    scope = make_scope(["2001:db8::/120", "10.0.0.0/30"], ["2001:db8::80/121", "2001:db8::5"])
    targets = await resolve_targets(scope)
    assert targets.count == 4 + 128 - 1
    assert "2001:db8::4" in targets
    assert "2001:DB8:0::4" in targets
    assert "2001:db8::5" not in targets
    assert "2001:db8::80" not in targets
    assert "2001:db8::ff" not in targets
    assert "2001:db8::100" not in targets
    assert addresses(targets)[4] == "2001:db8::"


async def test_ipv4_mapped_form_is_the_ipv4_address() -> None:
    """::ffff:a.b.c.d reaches a.b.c.d over IPv4: one host, scanned once, excluded either way."""
    scope = make_scope(["::ffff:10.0.0.0/120", "10.0.0.0/24"], ["10.0.0.5", "::ffff:10.0.0.9"])
    targets = await resolve_targets(scope)
    assert "10.0.0.5" not in targets
    assert "::ffff:10.0.0.5" not in targets
    assert "10.0.0.9" not in targets
    assert "::ffff:10.0.0.9" not in targets
    assert "::ffff:10.0.0.6" in targets
    assert "10.0.0.6" in targets
    assert targets.count == 256 - 2  # it was 2 * 254 before: each host probed twice
    assert all(ipaddress.ip_address(a).version == 4 for a in addresses(targets))
    only_mapped = await resolve_targets(make_scope(["::ffff:10.0.0.0/126"]))
    assert addresses(only_mapped) == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]


async def test_everything_excluded_is_an_error() -> None:
    scope = make_scope(["10.0.0.0/24"], ["10.0.0.0/16"], source="empty.toml")
    with pytest.raises(ScopeError, match=re.escape("scope file empty.toml leaves no address")):
        await resolve_targets(scope)


async def test_contains_rejects_garbage() -> None:
    targets = await resolve_targets(make_scope(["10.0.0.0/24"]))
    assert ipaddress.ip_address("10.0.0.1") in targets
    assert ipaddress.ip_address("10.0.1.1") not in targets
    for junk in ["", "nope", "10.0.0.0/24", "10.0.0.1%eth0", "999.0.0.1", None, 167772161, b"x"]:
        assert junk not in targets


# --------------------------------------------------------------------------- lazy expansion


@pytest.mark.parametrize(
    ("include", "exclude", "count", "first"),
    [
        ("10.0.0.0/8", "10.0.0.0/30", 2**24 - 4, ["10.0.0.4", "10.0.0.5", "10.0.0.6"]),
        ("2001:db8:1::/64", "2001:db8:1::/127", 2**64 - 2, ["2001:db8:1::2", "2001:db8:1::3"]),
        ("2001:db8::/32", "2001:db8::/33", 2**95, ["2001:db8:8000::", "2001:db8:8000::1"]),
    ],
)
async def test_large_scopes_expand_lazily(
    include: str, exclude: str, count: int, first: list[str]
) -> None:
    scope = make_scope([include], [exclude])
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        started = time.perf_counter()
        targets = await resolve_targets(scope)
        head = list(itertools.islice(targets, 5))
        assert targets.count == count
        assert "10.255.255.255" in targets or include != "10.0.0.0/8"
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [h.address for h in head[: len(first)]] == first
    assert len(head) == 5
    assert elapsed < 0.5
    assert peak < 1_000_000


# --------------------------------------------------------------------------- hostnames


async def test_scope_hostname_addresses_carry_their_name() -> None:
    scope = make_scope(["pacs.example.org", "10.0.0.0/24"])
    resolver = FakeResolver({"pacs.example.org": ["192.0.2.7", "10.0.0.5", "2001:db8::7"]})
    targets = await resolve_targets(scope, resolver=resolver)
    assert targets.count == 256 + 2  # 10.0.0.5 is in the network too: counted once
    hosts = {host.address: host.hostname for host in targets}
    assert hosts["192.0.2.7"] == "pacs.example.org"
    assert hosts["10.0.0.5"] == "pacs.example.org"
    assert hosts["2001:db8::7"] == "pacs.example.org"
    assert hosts["10.0.0.6"] is None
    assert targets.hostname("192.0.2.7") == "pacs.example.org"
    assert resolver.calls == ["pacs.example.org"]


async def test_hostname_exclude_wins() -> None:
    scope = make_scope(["10.0.0.0/24", "pacs.example.org"], ["lab-pacs.example.org"])
    resolver = FakeResolver(
        {
            "pacs.example.org": ["192.0.2.7", "192.0.2.8"],
            "lab-pacs.example.org": ["10.0.0.9", "192.0.2.8", "2001:db8::1"],
        }
    )
    targets = await resolve_targets(scope, resolver=resolver)
    assert "10.0.0.9" not in targets
    assert "192.0.2.8" not in targets
    assert "192.0.2.7" in targets
    assert targets.count == 256 - 1 + 1
    assert "192.0.2.8" not in addresses(targets)


async def test_network_exclude_wins_over_included_hostname() -> None:
    scope = make_scope(["pacs.example.org"], ["192.0.2.0/24"])
    resolver = FakeResolver({"pacs.example.org": ["192.0.2.7", "198.51.100.7"]})
    targets = await resolve_targets(scope, resolver=resolver)
    assert addresses(targets) == ["198.51.100.7"]


@pytest.mark.parametrize("key", ["include", "exclude"])
async def test_scope_hostname_that_does_not_resolve(key: str) -> None:
    scope = (
        make_scope(["10.0.0.0/24", "ghost.example.org"], source="s.toml")
        if key == "include"
        else make_scope(["10.0.0.0/24"], ["ghost.example.org"], source="s.toml")
    )
    with pytest.raises(ScopeError) as caught:
        await resolve_targets(scope, resolver=FakeResolver())
    message = assert_one_line(caught.value)
    assert "'ghost.example.org' does not resolve" in message
    assert f"in {key} of scope file s.toml" in message


async def test_resolver_errors_of_any_kind_become_one_line() -> None:
    async def broken(hostname: str) -> list[str]:
        raise OSError("network is\nunreachable")

    async def junk(hostname: str) -> list[str]:
        return ["not-an-address"]

    async def empty(hostname: str) -> list[str]:
        return []

    scope = make_scope(["pacs.example.org"])
    for resolver, needle in [
        (broken, "OSError: network is unreachable"),
        (junk, "'not-an-address', which is not an address"),
        (empty, "no addresses"),
    ]:
        with pytest.raises(ScopeError) as caught:
            await resolve_targets(scope, resolver=resolver)
        assert needle in assert_one_line(caught.value)


async def test_each_name_resolved_once() -> None:
    scope = make_scope(["pacs.example.org", "10.0.0.0/24"], ["pacs.example.org", "10.0.0.3"])
    resolver = FakeResolver({"pacs.example.org": ["10.0.0.1"], "alias.example.org": ["10.0.0.2"]})
    targets = await resolve_targets(
        scope, ["alias.example.org", "10.0.0.0/28", "ALIAS.example.org."], resolver=resolver
    )
    assert resolver.calls == ["pacs.example.org", "alias.example.org"]
    assert "10.0.0.1" not in targets
    assert "10.0.0.3" not in targets
    assert targets.count == 14


# --------------------------------------------------------------------------- targets


async def test_no_targets_means_whole_scope() -> None:
    scope = make_scope(["10.0.0.0/28"], ["10.0.0.0"])
    whole = await resolve_targets(scope)
    for targets in (None, [], ()):
        assert addresses(await resolve_targets(scope, targets)) == addresses(whole)
    assert whole.count == 15


async def test_targets_are_a_union_inside_the_scope() -> None:
    scope = make_scope(["10.20.0.0/16", "2001:db8::/64"], ["10.20.5.0/24"])
    targets = await resolve_targets(
        scope, ["10.20.1.0/30", "10.20.1.2", "10.20.1.0/31", "2001:db8::1", "10.20.9.9"]
    )
    assert addresses(targets) == [
        "10.20.1.0",
        "10.20.1.1",
        "10.20.1.2",
        "10.20.1.3",
        "10.20.9.9",
        "2001:db8::1",
    ]
    assert targets.count == 6


async def test_single_string_target() -> None:
    targets = await resolve_targets(make_scope(["10.20.0.0/16"]), "10.20.0.1")
    assert addresses(targets) == ["10.20.0.1"]


async def test_ipaddress_objects_as_targets() -> None:
    scope = make_scope(["10.20.0.0/16"])
    targets = await resolve_targets(
        scope,
        [ipaddress.ip_address("10.20.0.1"), ipaddress.ip_network("10.20.1.0/30")],  # type: ignore[list-item]
    )
    assert targets.count == 5
    with pytest.raises(OutOfScopeError, match="is not an address, CIDR or hostname"):
        await resolve_targets(scope, [None])  # type: ignore[list-item]


async def test_excluded_address_target_is_refused() -> None:
    scope = make_scope(["10.20.0.0/16"], ["10.20.5.0/24"])
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(scope, ["10.20.5.7"])
    assert assert_one_line(caught.value) == (
        "target 10.20.5.7 is excluded by the scope (10.20.5.0/24)"
    )


async def test_excluded_hostname_names_the_exclude() -> None:
    scope = make_scope(["10.20.0.0/16"], ["lab.example.org"])
    resolver = FakeResolver({"lab.example.org": ["10.20.7.7"]})
    with pytest.raises(OutOfScopeError, match=r"excluded by the scope \(lab.example.org\)"):
        await resolve_targets(scope, ["10.20.7.7"], resolver=resolver)


async def test_partly_excluded_cidr_target_drops_the_excluded_part() -> None:
    scope = make_scope(["10.20.0.0/16"], ["10.20.5.0/24"])
    targets = await resolve_targets(scope, ["10.20.4.0/23"])
    assert targets.count == 256
    assert list(targets.intervals()) == [("10.20.4.0", "10.20.4.255")]
    with pytest.raises(OutOfScopeError, match=re.escape("target 10.20.5.128/25 is excluded")):
        await resolve_targets(scope, ["10.20.5.128/25"])


async def test_cidr_target_reaching_outside_is_refused() -> None:
    scope = make_scope(["10.20.0.0/16"], source="s.toml")
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(scope, ["10.20.0.0/16", "10.20.0.0/15"])
    assert assert_one_line(caught.value) == (
        "target 10.20.0.0/15 reaches 10.21.0.0, which is outside the scope (scope file s.toml)"
    )
    with pytest.raises(
        OutOfScopeError, match=re.escape("target 10.19.254.0/23 reaches 10.19.254.0")
    ):
        await resolve_targets(scope, ["10.19.254.0/23"])


async def test_cidr_target_spanning_adjacent_includes_is_inside() -> None:
    scope = make_scope(["10.20.0.0/25", "10.20.0.128/25"])
    targets = await resolve_targets(scope, ["10.20.0.0/24"])
    assert targets.count == 256


async def test_address_target_outside_is_refused() -> None:
    scope = make_scope(["10.20.0.0/16"], source="s.toml")
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(scope, ["192.0.2.1"])
    assert assert_one_line(caught.value) == (
        "target 192.0.2.1 is outside the scope (scope file s.toml)"
    )


async def test_ipv6_targets() -> None:
    scope = make_scope(["2001:db8::/64"], ["2001:db8::/120"], source="s.toml")
    targets = await resolve_targets(scope, ["2001:db8::1f0/124", "2001:DB8::1:1"])
    assert targets.count == 17
    assert "2001:db8::1:1" in targets
    with pytest.raises(OutOfScopeError, match="target 2001:db8::5 is excluded"):
        await resolve_targets(scope, ["2001:db8::5"])
    with pytest.raises(OutOfScopeError, match="target 2001:db9::1 is outside the scope"):
        await resolve_targets(scope, ["2001:db9::1"])
    with pytest.raises(OutOfScopeError, match="2001:db8::/63 reaches 2001:db8:0:1::"):
        await resolve_targets(scope, ["2001:db8::/63"])
    # IPv4-mapped IPv6 reaches the IPv4 address, and is checked (and scanned) as it.
    mapped = await resolve_targets(make_scope(["10.0.0.0/8"]), ["::ffff:10.0.0.1"])
    assert addresses(mapped) == ["10.0.0.1"]
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(make_scope(["10.0.0.0/8"], source="s.toml"), ["::ffff:11.0.0.1"])
    assert assert_one_line(caught.value) == (
        "target ::ffff:11.0.0.1 reaches 11.0.0.1, which is outside the scope (scope file s.toml)"
    )


async def test_hostname_target_resolving_outside_is_refused() -> None:
    scope = make_scope(["10.20.0.0/16"], source="s.toml")
    resolver = FakeResolver({"evil.example.org": ["198.51.100.1"]})
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(scope, ["evil.example.org"], resolver=resolver)
    assert assert_one_line(caught.value) == (
        "target 'evil.example.org' resolves to 198.51.100.1, which is outside the scope "
        "(scope file s.toml)"
    )


async def test_hostname_target_partly_outside_is_refused() -> None:
    scope = make_scope(["10.20.0.0/16"], source="s.toml")
    resolver = FakeResolver({"pacs.example.org": ["10.20.0.5", "2001:db8::5", "10.20.0.6"]})
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(scope, ["10.20.0.0/24", "pacs.example.org"], resolver=resolver)
    message = assert_one_line(caught.value)
    assert "'pacs.example.org' resolves to 2001:db8::5" in message
    assert "scope file s.toml" in message


async def test_hostname_target_inside_carries_label() -> None:
    scope = make_scope(["10.20.0.0/16", "2001:db8::/64"], ["10.20.0.6"])
    resolver = FakeResolver({"pacs.example.org": ["10.20.0.5", "2001:db8::5", "10.20.0.6"]})
    targets = await resolve_targets(scope, ["PACS.example.org", "10.20.0.4"], resolver=resolver)
    assert list(targets) == [
        Host("10.20.0.4", None),
        Host("10.20.0.5", "pacs.example.org"),
        Host("2001:db8::5", "pacs.example.org"),
    ]


async def test_hostname_target_wholly_excluded_is_refused() -> None:
    scope = make_scope(["10.20.0.0/16"], ["10.20.0.0/24"])
    resolver = FakeResolver({"pacs.example.org": ["10.20.0.5"]})
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(scope, ["pacs.example.org"], resolver=resolver)
    assert assert_one_line(caught.value) == (
        "target 'pacs.example.org' is excluded by the scope (10.20.0.0/24)"
    )


async def test_target_labels_fall_back_to_scope_hostnames() -> None:
    scope = make_scope(["10.0.0.0/24", "pacs.example.org"])
    resolver = FakeResolver({"pacs.example.org": ["10.0.0.5"], "alias.example.org": ["10.0.0.6"]})
    targets = await resolve_targets(scope, ["10.0.0.4/30", "alias.example.org"], resolver=resolver)
    labels = {host.address: host.hostname for host in targets}
    assert labels == {
        "10.0.0.4": None,
        "10.0.0.5": "pacs.example.org",
        "10.0.0.6": "alias.example.org",
        "10.0.0.7": None,
    }


async def test_target_inside_a_scope_hostname() -> None:
    scope = make_scope(["pacs.example.org"])
    resolver = FakeResolver({"pacs.example.org": ["192.0.2.7"]})
    targets = await resolve_targets(scope, ["192.0.2.7"], resolver=resolver)
    assert list(targets) == [Host("192.0.2.7", "pacs.example.org")]
    with pytest.raises(OutOfScopeError):
        await resolve_targets(scope, ["192.0.2.6/31"], resolver=resolver)


@pytest.mark.parametrize("target", ["10.0.0.0/33", "999.1.1.1", "bad_name", "", "a b"])
async def test_malformed_target(target: str) -> None:
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(make_scope(["10.0.0.0/8"]), [target])
    assert assert_one_line(caught.value) == (
        f"target {target!r} is not an address, CIDR or hostname"
    )


async def test_target_that_does_not_resolve() -> None:
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(
            make_scope(["10.0.0.0/8"]), ["ghost.example.org"], resolver=FakeResolver()
        )
    message = assert_one_line(caught.value)
    assert message.startswith("target 'ghost.example.org' cannot be checked: ")
    assert "does not resolve" in message


async def test_scope_built_in_code_is_checked_too() -> None:
    auth = Authorisation(owner="o", reference="r", expires=FAR_FUTURE)
    scope = Scope(authorisation=auth, include=("10.0.0.0/33",))
    with pytest.raises(ScopeError, match=re.escape("bad address or CIDR '10.0.0.0/33' in include")):
        await resolve_targets(scope)
    fine = Scope(authorisation=auth, include=["127.0.0.0/30"], exclude=["127.0.0.0"])  # type: ignore[arg-type]
    assert fine.include == ("127.0.0.0/30",)
    assert addresses(await resolve_targets(fine)) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


# --------------------------------------------------------------------------- default resolver


async def test_default_resolver_localhost() -> None:
    found = await default_resolver("localhost")
    assert found
    assert len(found) == len(set(found))
    assert all(ipaddress.ip_address(a).is_loopback for a in found)


async def test_default_resolver_dedupes_and_keeps_zones(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake(host: str, port: Any, **kwargs: Any) -> list[Any]:
        assert kwargs["type"] == socket.SOCK_STREAM
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 0, 0, 2)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 0)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 0, 0, 0)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
    found = await default_resolver("pacs.example.org")
    assert found == ["fe80::1%eth0", "10.0.0.1", "2001:db8::1"]


async def test_default_resolver_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake(host: str, port: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
    with pytest.raises(ScopeError) as caught:
        await default_resolver("ghost.example.org")
    assert assert_one_line(caught.value).startswith("hostname 'ghost.example.org' does not resolve")


async def test_default_resolver_is_used_for_localhost_scopes() -> None:
    targets = await resolve_targets(make_scope(["localhost"]))
    assert targets.count >= 1
    assert all(host.hostname == "localhost" for host in targets)
    assert all(ipaddress.ip_address(host.address).is_loopback for host in targets)


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("104", (104,)),
        ("104,4242,11000-11003", (104, 4242, 11000, 11001, 11002, 11003)),
        (" 11112 , 104,104 , 100 - 101 ", (100, 101, 104, 11112)),
        ("4242,104", (104, 4242)),
        ("1-3,2-4", (1, 2, 3, 4)),
        ("65535", (65535,)),
        ("7-7", (7,)),
        ("", ()),
        ("  ", ()),
    ],
)
def test_parse_port_list(text: str, expected: tuple[int, ...]) -> None:
    assert parse_port_list(text) == expected


def test_parse_port_list_full_range() -> None:
    ports = parse_port_list("1-65535")
    assert len(ports) == 65535
    assert ports[0] == 1
    assert ports[-1] == 65535


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0", "port 0 is not in 1-65535"),
        ("65536", "port 65536 is not in 1-65535"),
        ("1-65536", "port 65536 is not in 1-65535"),
        ("0-5", "port 0 is not in 1-65535"),
        ("99999999999999999999", "is not a port or a range"),
        ("11010-11000", "range 11010-11000 is reversed"),
        ("104,,4242", "empty entry"),
        ("104,", "empty entry"),
        ("http", "'http' is not a port or a range"),
        ("-104", "is not a port or a range"),
        ("+104", "is not a port or a range"),
        ("1_04", "is not a port or a range"),
        ("104-", "is not a port or a range"),
        ("1-2-3", "is not a port or a range"),
        ("10 4", "is not a port or a range"),
        ("١٠٤", "is not a port or a range"),
    ],
)
def test_parse_port_list_errors(text: str, reason: str) -> None:
    with pytest.raises(PortListError) as caught:
        parse_port_list(text, option="--web-ports")
    message = assert_one_line(caught.value)
    assert message.startswith(f"bad port list for --web-ports: {text!r} (")
    assert reason in message


def test_parse_port_list_error_for_a_huge_string_stays_short() -> None:
    with pytest.raises(PortListError) as caught:
        parse_port_list("x" * 10_000)
    assert len(assert_one_line(caught.value)) < 300


def test_select_ports() -> None:
    allowed = (104, 11112)
    assert select_ports(None, allowed, option="--ports") == allowed
    assert select_ports((11112,), allowed, option="--ports") == (11112,)
    assert select_ports((), allowed, option="--ports") == ()
    assert select_ports(None, (), option="--web-ports") == ()


def test_select_ports_refuses_unlisted_port() -> None:
    with pytest.raises(PortListError) as caught:
        select_ports((104, 8080), (104, 11112), option="--ports")
    assert assert_one_line(caught.value) == (
        "--ports names port 8080 which the scope does not list (scope ports: 104, 11112)"
    )
    with pytest.raises(PortListError, match=r"names ports 80, 443 .*\(scope web_ports: none\)"):
        select_ports((80, 443), (), option="--web-ports")


def test_port_errors_are_user_errors() -> None:
    with pytest.raises(UserError):
        parse_port_list("0")
    with pytest.raises(UserError):
        select_ports((1,), (), option="--ports")


# --------------------------------------------------------------------------- properties


V4_BASE = int(ipaddress.ip_address("10.0.0.0"))
V6_BASE = int(ipaddress.ip_address("2001:db8::"))


def _network(version: int, offset: int, prefix: int) -> str:
    if version == 4:
        return str(ipaddress.ip_network((V4_BASE + offset, prefix), strict=False))
    return str(ipaddress.ip_network((V6_BASE + offset, prefix), strict=False))


networks = st.one_of(
    st.builds(_network, st.just(4), st.integers(0, 255), st.integers(26, 32)),
    st.builds(_network, st.just(6), st.integers(0, 255), st.integers(122, 128)),
)
UNIVERSE = [ipaddress.ip_address(V4_BASE + i) for i in range(256)] + [
    ipaddress.ip_address(V6_BASE + i) for i in range(256)
]


def _members(entries: Sequence[str]) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for entry in entries:
        found.update(ipaddress.ip_network(entry))
    return found


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    include=st.lists(networks, min_size=1, max_size=4),
    exclude=st.lists(networks, max_size=3),
)
def test_expansion_matches_brute_force(include: list[str], exclude: list[str]) -> None:
    scope = Scope(
        authorisation=Authorisation(owner="o", reference="r", expires=FAR_FUTURE),
        include=tuple(include),
        exclude=tuple(exclude),
    )
    expected = _members(include) - _members(exclude)
    if not expected:
        with pytest.raises(ScopeError):
            asyncio.run(resolve_targets(scope))
        return
    targets = asyncio.run(resolve_targets(scope))
    hosts = list(targets)
    seen = [ipaddress.ip_address(host.address) for host in hosts]
    assert targets.count == len(hosts) == len(set(seen))
    assert set(seen) == expected
    assert seen == sorted(seen, key=lambda a: (a.version, a))
    assert all(host.address in targets for host in hosts)
    excluded = _members(exclude)
    assert not any(address in excluded for address in seen)
    for address in UNIVERSE:
        assert (str(address) in targets) == (address in expected)

    # Each include, given as a target, yields exactly its non-excluded part (or is refused).
    for entry in include:
        part = _members([entry]) - excluded
        if not part:
            with pytest.raises(OutOfScopeError, match="is excluded by the scope"):
                asyncio.run(resolve_targets(scope, [entry]))
            continue
        narrowed = asyncio.run(resolve_targets(scope, [entry]))
        assert {ipaddress.ip_address(h.address) for h in narrowed} == part
        assert narrowed.count == len(part)


async def test_invalid_names_are_refused_without_a_query() -> None:
    """RFC 6761 §6.4: names under .invalid never resolve; the autouse guard fails
    the test if the system resolver is asked."""
    for name in ("pacs.exposcan-test.invalid", "PACS.INVALID.", "invalid"):
        with pytest.raises(ScopeError, match="reserved"):
            await default_resolver(name)

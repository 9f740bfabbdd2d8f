"""Address forms, judged on the address a connection reaches (issue 10, class 1).

Pure unit tests: no socket is opened here (TEST-NET and documentation prefixes
appear only as values). The adversarial tests that prove nothing arrived are in
tests/cli/test_scope_reached.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from exposcan.errors import OutOfScopeError, ScopeError, UserError
from exposcan.scope import Scope, TargetSet, parse_scope, resolve_targets
from exposcan.scope.entries import inet_aton, parse_entry
from exposcan.scope.reach import exclude_pieces, reached_address
from exposcan.scope.targets import Host
from tests.support.fakes import FakeResolver
from tests.support.scope_toml import FAR_FUTURE, assert_one_line, make_scope, scope_text

from exposcan.scope.authorisation import Authorisation  # isort: skip

UNSPECIFIED = "the unspecified address, which the kernel delivers to this machine itself"

# (written, why it is refused: a part of the one-line message)
REFUSED_DESTINATIONS = [
    ("0.0.0.0", UNSPECIFIED),
    ("::", UNSPECIFIED),
    ("::ffff:0.0.0.0", UNSPECIFIED),
    ("0.1.2.3", '0.0.0.0/8 ("this network"), never a destination (RFC 1122 §3.2.1.3)'),
    ("224.0.0.251", "a multicast address (224.0.0.0/4)"),
    ("239.255.255.250", "a multicast address (224.0.0.0/4)"),
    ("ff02::1", "a multicast address (ff00::/8)"),
    ("255.255.255.255", "the limited broadcast address (RFC 919)"),
    ("::ffff:255.255.255.255", "the limited broadcast address"),
    ("::192.0.2.7", "IPv4-compatible address (deprecated, RFC 4291 §2.5.5.1)"),
    ("::192.0.2.7", "write 192.0.2.7"),
    ("64:ff9b::192.0.2.7", "a NAT64 address (RFC 6052) that a translator turns into 192.0.2.7"),
    ("64:ff9b:1::c000:207", "a local-use NAT64 address (RFC 8215)"),
    ("2002:c000:207::1", "a 6to4 address (RFC 3056), tunnelled to 192.0.2.7; write 192.0.2.7"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo address (RFC 4380)"),
    ("fe80::1", "a link-local address (fe80::/10), which names a different host on every link"),
]


@pytest.mark.parametrize(("written", "why"), REFUSED_DESTINATIONS)
def test_refused_destination_as_an_include(written: str, why: str) -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_text([written]), source="s.toml")
    message = assert_one_line(caught.value)
    assert message.startswith(f"{parse_entry(written).text} in include of scope file s.toml")
    assert why in message


@pytest.mark.parametrize(("written", "why"), REFUSED_DESTINATIONS)
async def test_refused_destination_as_a_target(written: str, why: str) -> None:
    # A scope built in code is re-checked, so the include cannot smuggle it in either.
    wide = Scope(
        authorisation=Authorisation(owner="o", reference="r", expires=FAR_FUTURE),
        include=(written,),
    )
    with pytest.raises(ScopeError, match=re.escape(why)):
        await resolve_targets(wide)
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(make_scope(["192.0.2.0/24"]), [written])
    message = assert_one_line(caught.value)
    assert message.startswith(f"target {parse_entry(written).text} ")
    assert why in message


@pytest.mark.parametrize(("written", "why"), REFUSED_DESTINATIONS)
async def test_refused_destination_as_a_resolved_address(written: str, why: str) -> None:
    resolver = FakeResolver({"sink.example.org": ["192.0.2.1", written]})
    with pytest.raises(ScopeError) as caught:
        await resolve_targets(make_scope(["sink.example.org"], source="s.toml"), resolver=resolver)
    message = assert_one_line(caught.value)
    assert message.startswith(
        "hostname 'sink.example.org' in include of scope file s.toml resolves to "
    )
    assert why in message
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(make_scope(["192.0.2.0/24"]), ["sink.example.org"], resolver=resolver)
    assert assert_one_line(caught.value).startswith("target 'sink.example.org' resolves to ")
    assert why in str(caught.value)


async def test_a_sinkhole_answer_is_named_as_such() -> None:
    resolver = FakeResolver({"blocked.example.org": ["0.0.0.0"]})
    with pytest.raises(ScopeError) as caught:
        await resolve_targets(
            make_scope(["blocked.example.org"], source="s.toml"), resolver=resolver
        )
    assert assert_one_line(caught.value) == (
        "hostname 'blocked.example.org' in include of scope file s.toml resolves to 0.0.0.0, "
        f"{UNSPECIFIED} (a DNS sinkhole answers a blocked name so)"
    )
    resolver = FakeResolver({"blocked.example.org": ["::ffff:0.0.0.0"]})
    with pytest.raises(
        OutOfScopeError,
        match=re.escape("resolves to ::ffff:0.0.0.0 (that is 0.0.0.0), the unspecified"),
    ):
        await resolve_targets(
            make_scope(["10.0.0.0/8"]), ["blocked.example.org"], resolver=resolver
        )


@pytest.mark.parametrize(
    ("written", "first"),
    [
        ("0.0.0.0/30", "0.0.0.0"),
        ("0.0.0.0/8", "0.0.0.0"),
        ("::/126", "::"),
        ("::/96", "::"),
        ("::ffff:0.0.0.0/126", "0.0.0.0"),
        ("::ffff:0.0.0.0/96", "0.0.0.0"),
        ("224.0.0.0/24", "224.0.0.0"),
        ("192.0.0.0/2", "224.0.0.0"),
        ("255.255.255.252/30", "255.255.255.255"),
        ("fe80::/64", "fe80::"),
        ("2000::/3", "2001::"),  # Teredo inside the global unicast range
    ],
)
async def test_a_cidr_reaching_a_refused_address_is_refused_whole(written: str, first: str) -> None:
    with pytest.raises(ScopeError) as caught:
        parse_scope(scope_text([written]), source="s.toml")
    assert assert_one_line(caught.value).startswith(
        f"{written} in include of scope file s.toml reaches {first}, "
    )
    with pytest.raises(OutOfScopeError, match=re.escape(f"target {written} reaches {first}, ")):
        await resolve_targets(make_scope(["192.0.2.0/24"]), [written])


# --------------------------------------------------------------------------- written forms


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("10.20.5.77/16", "has host bits set; write 10.20.0.0/16 for the network, or 10.20.5.77"),
        ("2001:db8::1/64", "has host bits set; write 2001:db8::/64 for the network"),
        ("0.0.0.0/0", "is every address (/0)"),
        ("::/0", "is every address (/0)"),
        ("10.0.0.0/0", "is every address (/0)"),
        ("fe80::1%eth0", "has a zone id ('%eth0'), which names an interface of this machine"),
        ("127.1", "is IPv4 shorthand that the system resolver reads as 127.0.0.1; write 127.0.0.1"),
        ("0x7f.0.0.1", "reads as 127.0.0.1"),
        ("0x7f000001", "reads as 127.0.0.1"),
        ("2130706433", "reads as 127.0.0.1"),
        ("0177.0.0.1", "reads as 127.0.0.1"),
        ("010.1.1.1", "reads as 8.1.1.1"),
        ("1.2.3", "reads as 1.2.0.3"),
        ("127.1.", "reads as 127.0.0.1"),
        ("192.0.2.1.", "has a trailing dot, so the system resolver would look it up as a name"),
        ("[2001:db8::1]", "is in brackets; write 2001:db8::1"),
        ("192.0.2.1:104", "names a port (104)"),
        ("pacs.example.org:11112", "names a port (11112)"),
    ],
)
async def test_written_forms_that_mean_something_else(written: str, why: str) -> None:
    for key in ("include", "exclude"):
        text = scope_text(
            ["192.0.2.0/24", written] if key == "include" else ["192.0.2.0/24"],
            [written] if key == "exclude" else None,
        )
        with pytest.raises(ScopeError) as caught:
            parse_scope(text, source="s.toml")
        message = assert_one_line(caught.value)
        assert f"{written!r} in {key} of scope file s.toml: it " in message
        assert why in message
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(make_scope(["192.0.2.0/24"]), [written])
    assert assert_one_line(caught.value).startswith(f"target {written!r} ")
    assert why in str(caught.value)


def test_zero_prefix_is_refused_even_with_allow_large() -> None:
    import exposcan

    scope = Scope(
        authorisation=Authorisation(owner="o", reference="r", expires=FAR_FUTURE),
        include=("2001:db8::/32",),
    )
    with pytest.raises(OutOfScopeError, match=re.escape("is every address (/0)")):
        asyncio.run(exposcan.prepare(scope, ["::/0"], allow_large=True))


def test_inet_aton_matches_the_c_library() -> None:
    import socket

    for text in [
        "127.1",
        "0x7f.1",
        "2130706433",
        "0177.0.0.1",
        "010.1.1.1",
        "1.2.3",
        "0xA.0Xb.1",
        "4294967295",
        "1.16777215",
        "0.0.0.0",
    ]:
        assert inet_aton(text) == int.from_bytes(socket.inet_aton(text)), text
    for text in ["256.1", "1.2.3.4.5", "4294967296", "1.16777216", "08", "0x", "", "1..2"]:
        assert inet_aton(text) is None, text


def test_hostnames_that_look_numeric_but_are_not() -> None:
    for name in ["1e100.net", "0x1.example.org", "pacs-01.example.org", "123abc"]:
        assert parse_entry(name).is_hostname
    with pytest.raises(ScopeError, match="bad hostname"):
        parse_scope(scope_text(["pacs.123"]))


# --------------------------------------------------------------------------- reached address


async def test_ipv4_mapped_entries_targets_and_answers_are_ipv4() -> None:
    resolver = FakeResolver({"pacs.example.org": ["::ffff:192.0.2.9"]})
    scope = make_scope(["::ffff:192.0.2.0/124", "pacs.example.org"], ["::ffff:192.0.2.3"])
    targets = await resolve_targets(scope, resolver=resolver)
    assert [h.address for h in targets] == [f"192.0.2.{i}" for i in range(16) if i != 3]
    assert Host("192.0.2.9", "pacs.example.org") in list(targets)
    narrowed = await resolve_targets(scope, ["192.0.2.9", "::ffff:192.0.2.10"], resolver=resolver)
    assert [h.address for h in narrowed] == ["192.0.2.9", "192.0.2.10"]
    with pytest.raises(OutOfScopeError, match="excluded by the scope"):
        await resolve_targets(scope, ["192.0.2.3"], resolver=resolver)


async def test_an_ipv4_exclude_keeps_out_a_mapped_answer_and_target() -> None:
    scope = make_scope(["192.0.2.0/24"], ["192.0.2.128/25"], source="s.toml")
    resolver = FakeResolver({"alias.example.org": ["::ffff:192.0.2.200"]})
    with pytest.raises(OutOfScopeError) as caught:
        await resolve_targets(scope, ["alias.example.org"], resolver=resolver)
    assert assert_one_line(caught.value) == (
        "target 'alias.example.org' is excluded by the scope (192.0.2.128/25)"
    )
    with pytest.raises(OutOfScopeError, match="excluded"):
        await resolve_targets(scope, ["::ffff:192.0.2.200"])


@pytest.mark.parametrize(
    "exclude",
    ["64:ff9b::192.0.2.7", "::192.0.2.7", "2002:c000:207::/48", "::ffff:192.0.2.7"],
)
async def test_an_exclude_in_an_embedding_form_excludes_the_ipv4_address(exclude: str) -> None:
    targets = await resolve_targets(make_scope(["192.0.2.0/29"], [exclude]))
    assert [h.address for h in targets] == [f"192.0.2.{i}" for i in range(8) if i != 7]


async def test_excludes_take_refused_forms_and_zone_free_answers() -> None:
    resolver = FakeResolver({"sink.example.org": ["0.0.0.0", "fe80::1%eth0", "192.0.2.2"]})
    scope = make_scope(
        ["192.0.2.0/30"], ["0.0.0.0", "::", "224.0.0.0/4", "fe80::/10", "sink.example.org"]
    )
    targets = await resolve_targets(scope, resolver=resolver)
    assert [h.address for h in targets] == ["192.0.2.0", "192.0.2.1", "192.0.2.3"]


def test_exclude_of_a_whole_translation_prefix_excludes_all_of_ipv4() -> None:
    assert (4, 0, 1 << 32) in exclude_pieces(6, 0x2002 << 112, (0x2002 << 112) + (1 << 112))
    assert (4, 0, 1 << 32) in exclude_pieces(6, 0x64FF9B << 96, (0x64FF9B << 96) + (1 << 32))
    with pytest.raises(ScopeError, match="leaves no address"):
        asyncio.run(resolve_targets(make_scope(["192.0.2.0/24"], ["64:ff9b::/96"])))


def test_membership_is_judged_on_the_reached_address() -> None:
    """The engine's last check before connecting: never true for a refused form or a
    hostname, whatever a hand-built TargetSet holds."""
    mapped_base = 0xFFFF << 32
    targets = TargetSet(
        [(0, 4), (int(ipaddress.ip_address("192.0.2.1")), int(ipaddress.ip_address("192.0.2.2")))],
        [(0, 2), (mapped_base, mapped_base + 4), (0xFE80 << 112, (0xFE80 << 112) + 2)],
    )
    for address in ["0.0.0.0", "0.0.0.1", "::", "::ffff:0.0.0.1", "fe80::1", "fe80::1%lo"]:
        assert address not in targets, address
    assert "::1" in targets
    assert "192.0.2.1" in targets
    assert "::ffff:192.0.2.1" in targets  # reaches 192.0.2.1
    assert "::ffff:c000:201" in targets
    for other in ["localhost", "pacs.example.org", "192.0.2.1.", "127.1", " ", None, 3232235521]:
        assert other not in targets, other
    assert reached_address("::ffff:192.0.2.1") == (4, int(ipaddress.ip_address("192.0.2.1")))
    assert reached_address(ipaddress.ip_address("::1")) == (6, 1)
    assert reached_address("0.0.0.0") is None


# --------------------------------------------------------------------------- property


BASES_V4 = [
    "0.0.0.0",
    "0.0.0.9",
    "127.0.0.1",
    "127.0.0.200",
    "10.0.0.1",
    "192.0.2.1",
    "192.0.2.130",
    "169.254.1.1",
    "224.0.0.1",
    "255.255.255.255",
]
PLAIN_V6 = ["::", "::1", "fe80::1", "ff02::1", "2001:db8::1", "2001:db8::80", "2001::1"]


def _forms(v4: str) -> list[str]:
    value = int(ipaddress.IPv4Address(v4))
    return [
        v4,
        f"::ffff:{v4}",
        str(ipaddress.IPv6Address(value)) if value > 1 else f"::{v4}",
        str(ipaddress.IPv6Address((0x64FF9B << 96) | value)),
        str(ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)),
    ]


ADDRESSES = sorted({form for base in BASES_V4 for form in _forms(base)} | set(PLAIN_V6))


def _entry(address: str, narrow: int) -> str:
    parsed = ipaddress.ip_address(address)
    prefix = (32 if parsed.version == 4 else 128) - narrow
    return str(ipaddress.ip_network((parsed, prefix), strict=False))


GOOD = [
    form
    for base in ["127.0.0.1", "127.0.0.200", "10.0.0.1", "192.0.2.1", "192.0.2.130", "169.254.1.1"]
    for form in _forms(base)[:2]  # as written and IPv4-mapped
] + ["::1", "2001:db8::1", "2001:db8::80"]
HOSTNAMES = ["host-a.example.org", "host-b.example.org"]


def _entries(pool: list[str]) -> st.SearchStrategy[str]:
    return st.builds(_entry, st.sampled_from(pool), st.integers(0, 3)) | st.sampled_from(HOSTNAMES)


#: Mostly scannable includes (else almost every example is refused), anything elsewhere.
includes = st.one_of(_entries(GOOD), _entries(GOOD), _entries(ADDRESSES))
entries = _entries(ADDRESSES)
answer_lists = st.lists(
    st.one_of(st.sampled_from(GOOD), st.sampled_from(GOOD), st.sampled_from(ADDRESSES)),
    min_size=1,
    max_size=2,
)


def _reached(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _oracle_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Written from the RFCs with ipaddress's own properties, not from exposcan's tables."""
    if address.version == 4:
        return (
            address in ipaddress.ip_network("0.0.0.0/8")
            or address.is_multicast
            or address == ipaddress.ip_address("255.255.255.255")
        )
    assert isinstance(address, ipaddress.IPv6Address)
    return (
        address.is_unspecified
        or address.is_multicast
        or address.is_link_local
        or address.sixtofour is not None
        or address.teredo is not None
        or address in ipaddress.ip_network("64:ff9b::/96")
        or address in ipaddress.ip_network("64:ff9b:1::/48")
        or (int(address) < 1 << 32 and address != ipaddress.ip_address("::1"))
    )


def _oracle_excluded(
    reached: ipaddress.IPv4Address | ipaddress.IPv6Address,
    excludes: Sequence[str],
    table: dict[str, list[str]],
) -> bool:
    networks = []
    for entry in excludes:
        if entry in table:
            networks += [ipaddress.ip_network(a) for a in table[entry]]
        else:
            networks.append(ipaddress.ip_network(entry))
    for network in networks:
        if network.version == reached.version and reached in network:
            return True
        if reached.version == 4:  # an IPv6 exclude that reaches (or embeds) this address
            value = int(reached)
            forms = [(0xFFFF << 32) | value, value, (0x64FF9B << 96) | value]
            if any(ipaddress.IPv6Address(f) in network for f in forms if network.version == 6):
                return True
            if network.version == 6 and network.overlaps(
                ipaddress.IPv6Network(((0x2002 << 112) | (value << 80), 48))
            ):
                return True
    return False


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    include=st.lists(includes, min_size=1, max_size=4),
    exclude=st.lists(entries, max_size=3),
    targets=st.lists(st.one_of(_entries(GOOD), entries), max_size=2),
    answers=st.fixed_dictionaries(
        {
            "host-a.example.org": answer_lists,
            "host-b.example.org": answer_lists,
        }
    ),
)
def test_an_accepted_address_is_never_refused_or_excluded_once_reached(
    include: list[str], exclude: list[str], targets: list[str], answers: dict[str, list[str]]
) -> None:
    scope = Scope(
        authorisation=Authorisation(owner="o", reference="r", expires=FAR_FUTURE),
        include=tuple(include),
        exclude=tuple(exclude),
    )
    try:
        found = asyncio.run(resolve_targets(scope, targets, resolver=FakeResolver(answers)))
    except UserError as exc:
        assert_one_line(exc)
        event("refused")
        return
    event("accepted")
    for host in found:
        address = ipaddress.ip_address(host.address)
        assert _reached(address) == address  # scanned as what it reaches: no mapped forms
        assert not _oracle_refused(address), host
        assert not _oracle_excluded(address, exclude, answers), (host, exclude)
        assert host.address in found

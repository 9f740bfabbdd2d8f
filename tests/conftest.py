"""Suite-wide guards; every fixture and helper lives in tests/support, loaded here."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

# Dependencies first: a plugin imported by an earlier one as a plain module could not
# have its asserts rewritten (pytest warns, and warnings are errors here).
pytest_plugins = [
    "tests.support.synthetic",
    "tests.support.netns",  # after every test: loopback-only listeners
    "tests.support.listeners",
    "tests.support.scps",
    "tests.support.scope_files",
    "tests.support.peers",
    "tests.support.web_peers",
]


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

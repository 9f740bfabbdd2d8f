"""An nftables table of a test's (or a benchmark's) own that silently drops packets to
chosen loopback addresses: hosts that "drop every packet", as firewalled and unused
addresses do.

The rules sit on the *input* hook of ``lo``: a drop on output would fail the connect at
once (EPERM), which no far firewall does; a drop on input leaves the connect waiting,
as a SYN lost on the way does. Only 127.0.0.0/8 addresses are accepted. The table is
removed by :meth:`DropTable.remove`, by :func:`drop_table` in every case, and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator

__all__ = ["DropTable", "drop_table", "nft_available"]

_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def nft_available() -> bool:
    return shutil.which("nft") is not None and os.geteuid() == 0


def _nft(script: str) -> None:
    subprocess.run(
        ["nft", "-f", "-"], input=script, text=True, check=True, capture_output=True, timeout=30
    )


def _loopback(addresses: Iterable[str]) -> list[str]:
    chosen = [ipaddress.IPv4Address(a) for a in addresses]
    if not all(a in _LOOPBACK for a in chosen):
        raise ValueError("the drop table takes loopback addresses only")
    return [str(a) for a in chosen]


class DropTable:
    """``inet`` table ``name`` with one chain on the input hook; rules added by :meth:`drop`."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"exposcan_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._made = False

    def create(self) -> DropTable:
        _nft(
            f"table inet {self.name} {{\n"
            "  counter syns { }\n"
            "  chain input {\n"
            "    type filter hook input priority -10; policy accept;\n"
            "  }\n"
            "}\n"
        )
        self._made = True
        atexit.register(self.remove)
        return self

    def drop(self, addresses: Iterable[str], ports: Iterable[int] | None) -> None:
        """Silently drop TCP to ``addresses`` (loopback only) on ``ports``; every packet
        to them (ICMP echo too: a ping sweep sees them down) when ``ports`` is None."""
        chosen = _loopback(addresses)
        match = "" if ports is None else f"tcp dport {{ {', '.join(str(int(p)) for p in ports)} }} "
        # In batches: one rule per few thousand addresses keeps each script small.
        for start in range(0, len(chosen), 4096):
            batch = ", ".join(chosen[start : start + 4096])
            _nft(
                f'add rule inet {self.name} input iifname "lo" ip daddr {{ {batch} }} {match}drop\n'
            )

    def count_syns(self, network: str, ports: Iterable[int]) -> None:
        """Count SYNs (first and retransmitted) to ``network`` on ``ports`` (:meth:`syns`);
        inserted before every drop rule, so dropped SYNs count too."""
        net = ipaddress.IPv4Network(network)
        if not net.subnet_of(_LOOPBACK):
            raise ValueError("the drop table takes loopback addresses only")
        wanted = ", ".join(str(int(p)) for p in ports)
        _nft(
            f'insert rule inet {self.name} input iifname "lo" ip daddr {net} '
            f'tcp dport {{ {wanted} }} tcp flags & (syn | ack) == syn counter name "syns"\n'
        )

    def syns(self, *, reset: bool = False) -> int:
        """SYN packets counted so far (then zero again, with ``reset``)."""
        listed = subprocess.run(
            ["nft", "-j", "reset" if reset else "list", "counter", "inet", self.name, "syns"],
            text=True,
            capture_output=True,
            timeout=30,
            check=True,
        )
        for item in json.loads(listed.stdout).get("nftables", []):
            if "counter" in item:
                return int(item["counter"]["packets"])
        return 0

    def remove(self) -> None:
        """Delete the table (idempotent, never raises)."""
        if not self._made:
            return
        with contextlib.suppress(Exception):
            _nft(f"delete table inet {self.name}\n")
        self._made = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.remove)

    def exists(self) -> bool:
        listed = subprocess.run(
            ["nft", "list", "tables"], text=True, capture_output=True, timeout=30, check=False
        )
        return f"inet {self.name}" in listed.stdout


@contextlib.contextmanager
def drop_table() -> Iterator[DropTable]:
    """A drop table for a test (``with``, or ``yield from`` in a fixture), removed whatever
    happens. Without nft (or root) the test fails under ``CI=true`` and is skipped
    elsewhere."""
    import pytest  # only tests need it; benchmarks use DropTable alone

    if not nft_available():
        message = "nftables (nft, as root) is needed for silent loopback hosts"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    table = DropTable().create()
    try:
        yield table
    finally:
        table.remove()

"""An nftables table of a test's (or a benchmark's) own that silently drops SYNs to chosen
loopback addresses and ports: hosts that "drop every packet", as firewalled and unused
addresses do.

The rule sits on the *input* hook of ``lo``: a drop on output would fail the connect at
once (EPERM), which no far firewall does; a drop on input leaves the connect waiting,
as a SYN lost on the way does. Only 127.0.0.0/8 addresses are accepted. The table is
removed by :meth:`DropTable.remove`, by the fixture in every case, and at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator

import pytest

__all__ = ["DropTable", "drop_table", "nft_available"]


_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def nft_available() -> bool:
    return shutil.which("nft") is not None and os.geteuid() == 0


def _nft(script: str) -> None:
    subprocess.run(
        ["nft", "-f", "-"], input=script, text=True, check=True, capture_output=True, timeout=30
    )


class DropTable:
    """``inet`` table ``name`` with one chain on the input hook; rules added by :meth:`drop`."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"exposcan_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._made = False

    def create(self) -> DropTable:
        _nft(
            f"table inet {self.name} {{\n"
            "  chain input {\n"
            "    type filter hook input priority -10; policy accept;\n"
            "  }\n"
            "}\n"
        )
        self._made = True
        atexit.register(self.remove)
        return self

    def drop(self, addresses: Iterable[str], ports: Iterable[int]) -> None:
        """Silently drop TCP to ``addresses`` (loopback only) on ``ports``."""
        chosen = [str(ipaddress.IPv4Address(a)) for a in addresses]
        if not chosen:
            return
        if not all(
            ipaddress.IPv4Address(a) in ipaddress.IPv4Network("127.0.0.0/8") for a in chosen
        ):
            raise ValueError("the drop table takes loopback addresses only")
        wanted = ", ".join(str(int(p)) for p in ports)
        # In batches: one rule per few thousand addresses keeps each script small.
        for start in range(0, len(chosen), 4096):
            batch = ", ".join(chosen[start : start + 4096])
            _nft(
                f'add rule inet {self.name} input iifname "lo" ip daddr {{ {batch} }} '
                f"tcp dport {{ {wanted} }} drop\n"
            )

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

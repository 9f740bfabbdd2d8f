"""scan() and scan_iter() take allow_large, as the error that refuses a large scan tells
a notebook user to pass (it once raised TypeError). The threshold is lowered to two
endpoints here, so the scans that pass are three closed loopback ports."""

from __future__ import annotations

import sys

import pytest

import exposcan
from exposcan.errors import OptionError
from exposcan.lab import free_port
from exposcan.scan import LARGE_SCAN  # noqa: F401 - loads the module patched below


@pytest.fixture
def three_ports(write_scope, monkeypatch):
    # the module, not the package's coroutine of the same name
    monkeypatch.setattr(sys.modules["exposcan.scan"], "LARGE_SCAN", 2)
    return write_scope(["127.0.0.1"], [free_port(), free_port(), free_port()])


async def test_scan_refuses_then_takes_allow_large(three_ports):
    with pytest.raises(OptionError) as caught:
        await exposcan.scan(three_ports)
    assert "allow_large=True" in str(caught.value)
    report = await exposcan.scan(three_ports, allow_large=True)
    assert len(report.results) == 3


async def test_scan_iter_takes_allow_large(three_ports):
    with pytest.raises(OptionError):
        async for _ in exposcan.scan_iter(three_ports):
            pass
    results = [r async for r in exposcan.scan_iter(three_ports, allow_large=True)]
    assert len(results) == 3

"""Keep the benchmarks working: a 20-host lab, exposcan and the minimal client.

No timing is asserted: only that the lab answers as its ground truth says and
that each tool's verdicts match it (benchmarks/lab.py, benchmarks/compare.py).
Everything runs on 127.42.8.0/27 (loopback) on a port the kernel picked.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from exposcan.lab import free_port

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(
        f"exposcan_bench_{name}", BENCHMARKS / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_lab_plan_covers_every_kind() -> None:
    lab = _load("lab")
    hosts = lab.plan_hosts(20, "127.42.8.0/27")
    assert {h.kind for h in hosts} == set(lab.KINDS)
    assert all(h.address.startswith("127.42.8.") for h in hosts)
    assert hosts == lab.plan_hosts(20, "127.42.8.0/27")  # deterministic


def test_compare_smoke_verdicts_match_ground_truth() -> None:
    compare = _load("compare")
    report = compare.compare(
        scenarios=[compare.Scenario("smoke", 20, "127.42.8.0/27")],
        port=free_port(),
        tools=["exposcan", "minimal"],
        timeout=1.0,
        concurrency=32,
        pin=False,
        tool_time_limit=60.0,
        repeat=2,
    )
    (scenario,) = report["scenarios"]
    truth = scenario["truth"]
    rows = {row["tool"]: row for row in scenario["rows"]}
    for row in rows.values():
        assert "error" not in row, row.get("error")

    # exposcan at its default depth reaches the true exposure of every host,
    # including the stock-title host (ORTHANC, DCM4CHEE or STORESCP).
    expected = {address: facts["exposure"] for address, facts in truth.items()}
    assert rows["exposcan"]["verdicts"] == expected
    assert rows["exposcan"]["score"]["correct"] == 20

    # The minimal client makes one ANY-SCP association with C-ECHO only: it sees
    # the stock-title host as protected and the C-FIND host as echo.
    first = {"stock": "protected", "find": "echo"}
    expected_minimal = {
        address: first.get(facts["kind"], facts["exposure"]) for address, facts in truth.items()
    }
    assert rows["minimal"]["verdicts"] == expected_minimal

    # The lab saw what each exchange implies (the minimal client: one per listening host).
    listening = sum(1 for facts in truth.values() if facts["kind"] != "closed")
    assert rows["minimal"]["lab"]["connections"] == listening
    assert rows["exposcan"]["lab"]["c_find"] >= 1
    # Two interleaved runs per tool; the row shown is one of them (the median), timed
    # as the whole process.
    for row in rows.values():
        assert len(row["runs_wall_s"]) == 2
        assert round(row["process_wall_s"], 3) in row["runs_wall_s"]
    # exposcan ran as its console script; its report's attempts are the connections the
    # lab accepted, plus one refused connect per closed host.
    assert rows["exposcan"]["command"][1] == "scan"
    closed = sum(1 for facts in truth.values() if facts["kind"] == "closed")
    reported = rows["exposcan"]["associations_reported"]
    assert reported == rows["exposcan"]["lab"]["connections"] + closed

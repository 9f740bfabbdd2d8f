"""Engine overhead: CPU spent while many targets wait behind strict rate limits.

100,000 endpoints (closed ports on 127.64.0.0/15, loopback only) are queued
behind a global rate of 5 new connections per second. For a fixed window the
scan runs; we report the process's CPU share, peak RSS and how many asyncio
tasks exist. A design that parks a coroutine per target on the throttler would
show up here as CPU burnt polling and tasks in the hundreds of thousands.

    python benchmarks/engine_overhead.py [--seconds 10] [--targets 100000]

Prints a table and writes benchmarks/results/engine_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import exposcan
from exposcan.lab import free_port

RESULTS = Path(__file__).parent / "results"


async def measure(seconds: float, targets: int, rate: float, concurrency: int) -> dict[str, object]:
    first = ipaddress.ip_address("127.64.0.0")
    last = first + targets - 1
    networks = [str(n) for n in ipaddress.summarize_address_range(first, last)]
    port = free_port()  # nothing listens there: every probe is a quick refusal
    scope = (
        '[authorisation]\nowner = "exposcan benchmark"\nreference = "BENCH"\n'
        f"expires = {(date.today() + timedelta(days=1)).isoformat()}\n"
        f"[scope]\ninclude = {json.dumps(networks)}\nports = [{port}]\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(scope)
    options = exposcan.ScanOptions(
        limits=exposcan.Limits(concurrency=concurrency, rate=rate, per_host_rate=1),
    )
    plan = await exposcan.prepare(handle.name, options=options)
    done = 0
    peak_tasks = 0

    async def consume() -> None:
        nonlocal done
        async for _ in plan.results():
            done += 1

    cpu0, wall0 = time.process_time(), time.monotonic()
    runner = asyncio.create_task(consume())
    while time.monotonic() - wall0 < seconds:
        await asyncio.sleep(0.25)
        peak_tasks = max(peak_tasks, len(asyncio.all_tasks()))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    os.unlink(handle.name)
    return {
        "queued_endpoints": plan.total,
        "rate_per_s": rate,
        "concurrency": concurrency,
        "window_s": round(wall, 2),
        "endpoints_done": done,
        "cpu_s": round(cpu, 3),
        "cpu_share_of_one_core": round(cpu / wall, 4),
        "peak_asyncio_tasks": peak_tasks,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    # Importing and preparing cost CPU before the window: measure only the wait.
    result = asyncio.run(measure(args.seconds, args.targets, args.rate, args.concurrency))
    result["python"] = platform.python_version()
    result["exposcan"] = exposcan.__version__
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine_overhead.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {RESULTS / 'engine_overhead.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

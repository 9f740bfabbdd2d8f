"""Memory and laziness: peak RSS while exposcan scans large all-closed scopes.

Scopes of a /18, a /17 and a /16 of loopback (127.43.0.0/16: nothing listens
there, so every endpoint is a fast connection refusal) times five DICOM ports
(104, 2761, 2762, 4242, 11112) are scanned to completion with exposcan's
public API (concurrency 512, rate limits high enough not to bind). Each scope
runs in a fresh process, so its peak RSS is its own; RSS is also sampled
during the scan. A lazy engine shows the same peak for every scope size.

    python benchmarks/memory.py                       # /18, /17 and /16 x 5 ports
    python benchmarks/memory.py --scopes 127.43.0.0/16 --ports 104

The /16 x 5 ports (327,680 endpoints) is the issue's scope; on the 2-core
benchmark machine it takes a few minutes (see benchmarks/README.md). Prints a
table and writes benchmarks/results/memory-<UTC time>.json and
benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ipaddress
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SCOPES = ("127.43.0.0/18", "127.43.0.0/17", "127.43.0.0/16")
DEFAULT_PORTS = (104, 2761, 2762, 4242, 11112)
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def listeners_in(network: ipaddress.IPv4Network, ports: Sequence[int]) -> list[str]:
    """Listening sockets that would answer inside ``network`` on ``ports``."""
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name) as table:
            next(table)
            for line in table:
                fields = line.split()
                address, _, hex_port = fields[1].partition(":")
                if fields[3] != "0A" or int(hex_port, 16) not in ports:
                    continue
                if set(address) == {"0"}:
                    found.append(f"*:{int(hex_port, 16)}")
                elif len(address) == 8:
                    ip = ipaddress.ip_address(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                    if ip in network:
                        found.append(f"{ip}:{int(hex_port, 16)}")
    return found


async def scan(network: str, ports: tuple[int, ...], concurrency: int) -> dict[str, Any]:
    import exposcan

    baseline = rss_mb()
    expires = (date.today() + timedelta(days=1)).isoformat()
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(
            '[authorisation]\nowner = "exposcan benchmark"\nreference = "BENCH-MEMORY"\n'
            f'expires = {expires}\n[scope]\ninclude = ["{network}"]\n'
            f"ports = {list(ports)}\nweb_ports = []\n"
        )
    options = exposcan.ScanOptions(
        ports=ports,
        web_ports=(),
        limits=exposcan.Limits(concurrency=concurrency, rate=100_000, per_host_rate=100_000),
    )
    plan = await exposcan.prepare(handle.name, options=options)
    os.unlink(handle.name)
    prepared = rss_mb()
    statuses: collections.Counter[str] = collections.Counter()
    samples: list[tuple[float, int, float]] = []
    done = 0
    cpu0, wall0 = time.process_time(), time.monotonic()

    async def sample() -> None:
        next_log = 10.0
        while True:
            await asyncio.sleep(0.5)
            elapsed = time.monotonic() - wall0
            samples.append((round(elapsed, 1), done, round(rss_mb(), 1)))
            if elapsed >= next_log:
                next_log += 10.0
                print(
                    f"  {network}: {done}/{plan.total} after {elapsed:.0f} s, "
                    f"RSS {samples[-1][2]:.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )

    sampler = asyncio.create_task(sample())
    try:
        async for result in plan.results():
            done += 1
            statuses[str(result.status)] += 1
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    # RSS once the first 10% of endpoints are done (the start-up ramp is over).
    steady = [rss for _, n, rss in samples if n >= plan.total // 10] or [rss_mb()]
    return {
        "scope": network,
        "hosts": plan.targets.count,
        "ports": list(ports),
        "endpoints": plan.total,
        "done": done,
        "statuses": dict(statuses),
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "endpoints_per_s": round(done / wall, 1) if wall else None,
        "rss_after_import_mb": round(baseline, 1),
        "rss_after_prepare_mb": round(prepared, 1),
        "rss_steady_min_mb": min(steady),
        "rss_steady_max_mb": max(steady),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_samples": samples[:: max(1, len(samples) // 40)],  # about 40 (time, done, MB)
    }


def child_main(network: str, ports: str, concurrency: int, output: str) -> int:
    result = asyncio.run(scan(network, tuple(int(p) for p in ports.split(",")), concurrency))
    Path(output).write_text(json.dumps(result))
    return 0


def run_scope(
    network: str, ports: Sequence[int], concurrency: int, time_limit: float, cpus: list[int]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="exposcan-memory-") as directory:
        output = os.path.join(directory, "result.json")
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            network,
            ",".join(map(str, ports)),
            str(concurrency),
            output,
        ]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            preexec_fn=(lambda: os.sched_setaffinity(0, set(cpus))) if cpus else None,
        )
        while True:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > time_limit:
                process.kill()
                os.wait4(process.pid, 0)
                return {"scope": network, "error": f"stopped at the {time_limit:g} s limit"}
            time.sleep(0.1)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            return {"scope": network, "error": f"exit code {process.returncode}"}
        result: dict[str, Any] = json.loads(Path(output).read_text())
        result["process_peak_rss_mb"] = round(rusage.ru_maxrss / 1024, 1)
        result["process_cpu_s"] = round(rusage.ru_utime + rusage.ru_stime, 2)
        result["process_wall_s"] = round(time.monotonic() - started, 2)
        return result


HEADER = (
    f"{'scope':<16} {'endpoints':>9} {'wall s':>7} {'CPU s':>7} {'ep/s':>6} "
    f"{'RSS start':>9} {'RSS steady':>11} {'peak RSS':>8}  statuses"
)


def format_row(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['scope']:<16} FAILED: {row['error']}"
    scope = f"/{row['scope'].split('/')[-1]} x {len(row['ports'])}"
    statuses = ", ".join(f"{k} {v}" for k, v in row["statuses"].items())
    return (
        f"{scope:<16} {row['endpoints']:>9} {row['wall_s']:>7.1f} {row['process_cpu_s']:>7.1f} "
        f"{row['endpoints_per_s']:>6.0f} {row['rss_after_prepare_mb']:>7.1f}MB "
        f"{row['rss_steady_min_mb']:>4.0f}-{row['rss_steady_max_mb']:<4.0f}MB "
        f"{row['process_peak_rss_mb']:>6.1f}MB  {statuses}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--scopes", default=",".join(DEFAULT_SCOPES), help="comma-separated")
    parser.add_argument("--ports", default=",".join(map(str, DEFAULT_PORTS)))
    parser.add_argument("--concurrency", type=int, default=512)
    parser.add_argument("--time-limit", type=float, default=900.0, help="per scope, seconds")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)
    if args.child:
        network, ports, concurrency, output = args.child
        return child_main(network, ports, int(concurrency), output)
    ports = [int(p) for p in args.ports.split(",")]
    scopes = [s for s in args.scopes.split(",") if s]
    for scope in scopes:
        network = ipaddress.ip_network(scope)
        if not network.subnet_of(LOOPBACK):  # type: ignore[arg-type]
            parser.error(f"{scope} is not loopback: this benchmark sends to 127.0.0.0/8 only")
        busy = listeners_in(network, ports)  # type: ignore[arg-type]
        if busy:
            parser.error(f"something listens in {scope}: {', '.join(busy[:5])}; pick other ports")
    available = sorted(os.sched_getaffinity(0))
    cpus = available[:1] if args.pin and len(available) > 1 else []
    rows = []
    for scope in scopes:
        print(f"scanning {scope} x {len(ports)} ports ...", file=sys.stderr, flush=True)
        rows.append(run_scope(scope, ports, args.concurrency, args.time_limit, cpus))
        print(format_row(rows[-1]), file=sys.stderr, flush=True)
    print(HEADER)
    print("-" * len(HEADER))
    for row in rows:
        print(format_row(row))
    report = {
        "record": "memory",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/memory.py " + " ".join(argv or sys.argv[1:]),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "scanner_cpus": cpus,
        },
        "rows": rows,
    }
    if args.write:
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        text = json.dumps(report, indent=1) + "\n"
        (RESULTS / f"memory-{stamp}.json").write_text(text)
        (RESULTS / "memory.json").write_text(text)
        print(f"\nwritten: {RESULTS / f'memory-{stamp}.json'} and {RESULTS / 'memory.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

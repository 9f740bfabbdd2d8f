"""Scale-out lab: one scan in one process, then through Redis with 1 and 2 worker processes.

The lab is benchmarks/lab.py's field mix (default 1,000 hosts from 127.42.64.1, one port,
55 % closed, 5 % silent, the rest DICOM responders of six kinds), served by a listener
process of this script built on lab.py's responders, which also records, per lab
address, when each connection came and how many were open at once: the per-host
limits (``--per-host-rate`` new connections per second, one association at a time) are
checked there, at the listener, for all workers together.

Each configuration is the command a user types, timed from spawn to exit as the user
waits (``wait4``):

==========  ================================================================
local       ``exposcan scan --scope S -o R.jsonl`` (no server)
redis-1     ``exposcan scan ... --broker redis://127.0.0.1:P/0``, 1 worker
redis-2     the same with 2 worker processes
==========  ================================================================

Workers are services that run before and after a scan (``exposcan worker --broker
URL --shards-at-once K``): they are started, and seen listening, before the clock starts,
and stopped after. Redis is Debian's ``redis-server`` on 127.0.0.1 (a free port,
``--save '' --appendonly no``), one for the whole run, stopped by PID.

Profiles: ``defaults`` (no limit flags: the first-contact budget and the global rate
hold, so more workers cannot make it faster) and ``raised`` (``--rate 5000
--concurrency 512``, an explicit rate for every connection; the per-host limits stay at their
defaults, 2 new connections per second and one association per host). Runs are
interleaved (every configuration once, then again) and each row is its median run.

    python benchmarks/scaleout.py [--hosts 1000] [--repeat 3] [--profiles defaults,raised]
        [--shards-at-once 32] [--network 127.42.64.0/22] [--port 11112]

It prints a table and writes ``benchmarks/results/scaleout-<UTC stamp>.json``. Only
127.0.0.0/8 is touched; every child has a time limit and is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import ipaddress
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lab as lab_module
from compare import _scope_file
from lab import LOOPBACK, HostSpec, Responder, Shared, Silent, plan_hosts

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
NETWORK = "127.42.64.0/22"
PROFILES = {
    "defaults": [],
    "raised": ["--rate", "5000", "--concurrency", "512"],
}
CONFIGS = (("local", 0), ("redis-1", 1), ("redis-2", 2))
#: a scan (or a worker) that takes longer than this is killed and its run recorded as such
TIME_LIMIT_S = 600.0


# -- the listener: lab.py's responders, each connection's time recorded ------------------


class Book:
    """Per lab address: connection instants, and the most open at once."""

    def __init__(self) -> None:
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self.open: defaultdict[str, int] = defaultdict(int)
        self.most: defaultdict[str, int] = defaultdict(int)

    def opened(self, transport: asyncio.BaseTransport) -> str:
        address = str(transport.get_extra_info("sockname")[0])
        self.times[address].append(time.monotonic())
        self.open[address] += 1
        self.most[address] = max(self.most[address], self.open[address])
        return address

    def summary(self, per_host_rate: float) -> dict[str, Any]:
        """The largest count of connections to one host in any 1 s window (less 30 ms of
        accept jitter); the shortest time in which one host saw one connection more than
        its rate allows in a second (at least about 1 s when the limit holds); the most
        open at once at one host."""
        window = 1.0 - 0.03
        allowed = math.ceil(per_host_rate)
        busiest, tightest = 0, math.inf
        for times in self.times.values():
            times.sort()
            for i, at in enumerate(times):
                busiest = max(busiest, bisect.bisect_left(times, at + window) - i)
                if i + allowed < len(times):
                    tightest = min(tightest, times[i + allowed] - at)
        return {
            "hosts_contacted": len(self.times),
            "connections": sum(len(t) for t in self.times.values()),
            "most_per_host_in_1s": busiest,
            "tightest_span_s": None if tightest == math.inf else round(tightest, 3),
            "most_open_per_host": max(self.most.values(), default=0),
            "per_host_rate": per_host_rate,
        }


def _recording(base: type, book: Book) -> type:
    class Recorded(base):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._address = book.opened(transport)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            book.open[self._address] -= 1
            super().connection_lost(exc)

    return Recorded


async def _listen(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    shared = Shared(float(config["idle_timeout"]))
    book = Book()
    responder, silent = _recording(Responder, book), _recording(Silent, book)
    servers = []
    for raw in config["hosts"]:
        host = HostSpec(*raw)
        if not host.listening:
            continue
        if ipaddress.ip_address(host.address) not in LOOPBACK:
            raise SystemExit(f"refusing to bind {host.address}: not loopback")
        if host.kind == "silent":
            factory: Any = lambda: silent(shared)  # noqa: E731
        else:
            factory = lambda host=host: responder(host, shared)  # noqa: E731
        servers.append(
            await loop.create_server(factory, host.address, config["port"], backlog=1024)
        )
    stop = asyncio.Event()
    loop.call_later(TIME_LIMIT_S * 4, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _say({"ready": len(servers)})

    async def commands() -> None:
        nonlocal book
        while True:
            line = (await reader.readline()).strip()
            if not line or line == b"stop":  # EOF: the parent went away
                stop.set()
                return
            if line.startswith(b"summary "):
                _say(book.summary(float(line.split()[1])))
            elif line == b"reset":
                book.times.clear()
                book.most.clear()
                _say({"reset": True})

    task = asyncio.create_task(commands())
    await stop.wait()
    task.cancel()
    for server in servers:
        server.close()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Listener:
    def __init__(self, hosts: list[HostSpec], port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--listen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        config = {"hosts": [lab_module.astuple_host(h) for h in hosts], "port": port}
        self._ask(json.dumps({**config, "idle_timeout": 30.0}))

    def _ask(self, line: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError(f"the listener exited ({self.process.poll()})")
        return json.loads(answer)  # type: ignore[no-any-return]

    def reset(self) -> None:
        self._ask("reset")

    def summary(self, per_host_rate: float) -> dict[str, Any]:
        return self._ask(f"summary {per_host_rate}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.write("stop\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- Redis, workers, the timed scan --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        words = ["redis-server", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*words, "--port", str(self.port), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.close()
        raise SystemExit("redis-server did not start (apt-get install redis-server)")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def exposcan() -> list[str]:
    """``exposcan`` of this checkout (``PYTHONPATH`` is set to it for every child)."""
    return [sys.executable, "-m", "exposcan"]


def start_workers(count: int, url: str, shards_at_once: int, logs: Path) -> list[Any]:
    started = []
    for index in range(count):
        log = (logs / f"worker-{index}.log").open("wb")
        words = [*exposcan(), "worker", "--broker", url, "--shards-at-once", str(shards_at_once)]
        process = subprocess.Popen(words, stdout=subprocess.DEVNULL, stderr=log)
        started.append((process, log))
    deadline = time.monotonic() + 60
    for index, (process, _) in enumerate(started):
        path = logs / f"worker-{index}.log"
        while "worker listening" not in path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                stop_workers(started)
                raise SystemExit(f"a worker did not start: {path.read_text()[-500:]}")
            time.sleep(0.05)
    return started


def stop_workers(started: list[Any]) -> None:
    for process, log in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def timed(words: list[str]) -> tuple[int, float, float]:
    """Exit code, wall seconds spawn to exit, and the child's CPU seconds (``wait4``)."""
    started = time.monotonic()
    process = subprocess.Popen(words, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = started + TIME_LIMIT_S
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            wall = time.monotonic() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() > deadline:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
            wall, process.returncode = math.inf, -9
            break
        time.sleep(0.01)
    if process.stderr is not None:
        process.stderr.close()
    return process.returncode, wall, usage.ru_utime + usage.ru_stime


def score(report: Path, truth: dict[str, str]) -> dict[str, int]:
    seen: dict[str, str] = {}
    copies = 0
    with contextlib.suppress(OSError), report.open() as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("record") == "endpoint":
                copies += record["host"] in seen
                seen[record["host"]] = record["exposure"]
    # Which verdicts went wrong, as "truth->seen" counts: a row's accuracy is read, not guessed.
    wrong = Counter(f"{e}->{seen.get(h)}" for h, e in truth.items() if seen.get(h) != e)
    return {
        "endpoints": len(seen),
        "duplicates": copies,
        "exposure_right": sum(seen.get(h) == e for h, e in truth.items()),
        "exposure_wrong": dict(wrong.most_common()),
    }


def one_run(
    profile: str, config: str, workers: int, spec: dict[str, Any], listener: Listener
) -> dict[str, Any]:
    directory = Path(spec["workdir"])
    report = directory / f"{profile}-{config}.jsonl"
    report.unlink(missing_ok=True)
    words = [*exposcan(), "scan", "--scope", spec["scope"], "--ports", str(spec["port"])]
    words += [*PROFILES[profile], "--output", str(report), "--quiet"]
    started: list[Any] = []
    if workers:
        words += ["--broker", spec["redis"]]
        started = start_workers(workers, spec["redis"], spec["shards_at_once"], directory)
    listener.reset()
    try:
        code, wall, cpu = timed(words)
    finally:
        stop_workers(started)
    return {
        "profile": profile,
        "config": config,
        "workers": workers,
        "exit": code,
        "process_wall_s": round(wall, 3),
        "submitter_cpu_s": round(cpu, 3),
        **score(report, spec["truth"]),
        "listener": listener.summary(2.0),
    }


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["process_wall_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs_wall_s"] = [r["process_wall_s"] for r in runs]
    return chosen


def render(rows: list[dict[str, Any]], hosts: int) -> str:
    head = (
        f"{'profile':9} {'config':8} {'wall s':>7} {'runs':>20} {'found':>11} {'right':>9} "
        f"{'dup':>3} {'1s/host':>7} {'span s':>6} {'open/host':>9}"
    )
    lines = [head]
    for row in rows:
        runs = ",".join(f"{w:g}" for w in row["runs_wall_s"])
        listener = row["listener"]
        lines.append(
            f"{row['profile']:9} {row['config']:8} {row['process_wall_s']:7.2f} {runs:>20} "
            f"{row['endpoints']:>5}/{hosts:<5} {row['exposure_right']:>4}/{hosts:<4} "
            f"{row['duplicates']:>3} {listener['most_per_host_in_1s']:>7} "
            f"{listener['tightest_span_s'] or '-':>6} {listener['most_open_per_host']:>9}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--network", default=NETWORK)
    parser.add_argument("--port", type=int, default=11112)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profiles", default="defaults,raised")
    parser.add_argument("--shards-at-once", type=int, default=32)
    args = parser.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    if args.listen:
        config = json.loads(sys.stdin.readline())
        asyncio.run(_listen(config))
        return 0
    hosts = plan_hosts(args.hosts, args.network)
    busy = lab_module.conflicting_listeners(args.port, [h.address for h in hosts])
    if busy:
        raise SystemExit(f"something already listens on {busy[0]}:{args.port}: another --port")
    profiles = [p for p in args.profiles.split(",") if p]
    truth = {h.address: h.exposure for h in hosts}
    load = os.getloadavg()
    listener = Listener(hosts, args.port)
    redis = Redis()
    runs: defaultdict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    try:
        with tempfile.TemporaryDirectory(prefix="exposcan-scaleout-") as workdir:
            spec = {
                "targets": [h.address for h in hosts],
                "port": args.port,
                "workdir": workdir,
                "redis": redis.url,
                "truth": truth,
                "shards_at_once": args.shards_at_once,
            }
            spec["scope"] = _scope_file(spec, workdir)
            for repeat in range(args.repeat):
                for profile in profiles:
                    for config, workers in CONFIGS:
                        run = one_run(profile, config, workers, spec, listener)
                        runs[(profile, config)].append(run)
                        print(
                            f"[{repeat + 1}/{args.repeat}] {profile} {config}: "
                            f"{run['process_wall_s']} s, exit {run['exit']}",
                            file=sys.stderr,
                        )
    finally:
        redis.close()
        listener.close()
    rows = [median(runs[(p, c)]) for p in profiles for c, _ in CONFIGS]
    print(render(rows, args.hosts))
    walls = {f"{r['profile']}/{r['config']}": r["process_wall_s"] for r in rows}
    result = {
        "benchmark": "scaleout",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "hosts": args.hosts,
        "network": args.network,
        "port": args.port,
        "repeat": args.repeat,
        "shards_at_once": args.shards_at_once,
        "cpus": os.cpu_count(),
        "load_before": load,
        "profiles": {p: PROFILES[p] for p in profiles},
        "median_wall_s": walls,
        "spread_s": {
            f"{p}/{c}": round(statistics.pstdev(r["process_wall_s"] for r in runs[(p, c)]), 3)
            for p in profiles
            for c, _ in CONFIGS
        },
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scaleout-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sparse-block lab: exposcan at its defaults and with raised limits against nmap at its
defaults, on a block one router hop away where most addresses drop every packet.

The block (default 198.18.0.0/22; ``--prefix 20`` to ``16`` for larger ones) lives in
two network namespaces the run creates (benchmarks/netns_lab.py: a scan namespace and
a lab namespace joined by a veth pair, nothing else but ``lo``, the block routed only
there), so nmap's host discovery works as on a real network. Every address but the
network and broadcast ones, seeded and deterministic:

==========  ======  ==============================================================
kind        share   behaviour
==========  ======  ==============================================================
dropped     98 %    every packet to it is dropped (ICMP too; an nftables table of
                    the benchmark's own in the lab namespace): firewalled or unused
closed      ~1.4 %  nothing listens: every port answers RST, ICMP echo answered
dicom       ~0.6 %  a DICOM responder (benchmarks/lab.py's) on one or two of 104,
                    11112 and 4242: two in three accept any called AE title, one
                    in three checks it (A-ASSOCIATE-RJ); its other ports RST
==========  ======  ==============================================================

Five ports, as issue 13 measured: 104, 11112, 4242, 2761, 2762. The responders stay
off 2761 and 2762: exposcan starts TLS on 2762 by default, and a plain responder
there would measure TLS fallbacks, not the block.

Tools, each a process of its own in the scan namespace (``ip netns exec``), timed as
the user waits (spawn to exit, ``wait4``), each with a hard time limit:

=================  ==============================================================
exposcan           ``exposcan scan --scope S -o R.jsonl`` at its defaults
exposcan-raised    the same with ``--rate 2000 --concurrency 512 --timeout 3``
nmap               ``nmap -n -p PORTS --script dicom-ping BLOCK`` at its defaults
                   (as root: host discovery, then a SYN scan, then the script)
=================  ==============================================================

Runs are interleaved (every tool once, then again) and each row is the tool's
median run. ``found`` counts DICOM endpoints of the ground truth the tool reports
as DICOM (exposcan: an exposure other than ``none``; nmap: dicom-ping's "DICOM
Service Provider discovered"), ``extra`` any other endpoint it reports so. ``SYNs
per endpoint``: SYN packets to the block on those ports (first and retransmitted,
counted by the table) over the block's endpoints; ``conns per DICOM endpoint``:
connections the responders accepted over the DICOM endpoints. The limits: every
SYN that reaches the lab is captured with its kernel time stamp; ``peak/1 s`` is
the most new connections (first SYNs) in any one-second window, in all and to any
one host, checked against exposcan's limits.

    sudo python benchmarks/sparse.py [--prefix 22] [--repeats 1]
        [--tools exposcan,exposcan-raised,nmap] [--seed 13]

Prints a table, writes benchmarks/results/sparse-<UTC time>.json. Namespaces, veth
and table are removed on every exit (normal, an exception, SIGINT, SIGTERM,
SIGHUP, interpreter exit), and the root namespace is checked never to route the
block.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import ipaddress
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

if (_ROOT := str(Path(__file__).resolve().parent.parent)) not in sys.path:
    sys.path.insert(1, _ROOT)
from benchmarks.netns_lab import (
    BLOCK_RANGE,
    SCAN_NS,
    Capture,
    NetnsLab,
    Responders,
    check_root_clean,
    windows,
)
from exposcan.options import Limits

PORTS = (104, 11112, 4242, 2761, 2762)
DICOM_PORTS = (104, 11112, 4242)
DROPPED_SHARE = 0.98
DICOM_SHARE = 0.006
RAISED = ("--rate", "2000", "--concurrency", "512", "--timeout", "3")
_DEFAULTS = Limits()
#: The ceilings each exposcan run must keep in every one-second window: (all new
#: connections, new connections to one host). At the defaults first contacts and
#: conversations have budgets of their own; an explicit --rate caps both.
CEILINGS = {
    "exposcan": (_DEFAULTS.first_contact_rate + _DEFAULTS.rate, _DEFAULTS.per_host_rate),
    "exposcan-raised": (2000.0, _DEFAULTS.per_host_rate),
}
TOOLS = ("exposcan", "exposcan-raised", "nmap")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Block:
    network: str
    dropped: list[str]
    closed: list[str]
    #: (address, port, kind, called AE title for a "checked" responder)
    dicom: list[tuple[str, int, str, str]] = field(default_factory=list)

    @property
    def endpoints(self) -> int:
        return (len(self.dropped) + len(self.closed) + len({d[0] for d in self.dicom})) * len(PORTS)

    @property
    def truth(self) -> set[tuple[str, int]]:
        return {(address, port) for address, port, _, _ in self.dicom}

    @property
    def answering(self) -> list[str]:
        return self.closed + sorted({d[0] for d in self.dicom}, key=ipaddress.IPv4Address)


def plan_block(network: str, seed: int) -> Block:
    net = ipaddress.IPv4Network(network)
    if not net.subnet_of(BLOCK_RANGE):
        raise SystemExit(f"the lab's block lies in {BLOCK_RANGE}; {network} does not")
    addresses = [str(a) for a in net.hosts()]
    rng = random.Random(seed)
    rng.shuffle(addresses)
    dropped_n = round(len(addresses) * DROPPED_SHARE)
    dicom_n = max(3, round(len(addresses) * DICOM_SHARE))
    dropped = sorted(addresses[:dropped_n], key=ipaddress.IPv4Address)
    dicom_hosts = addresses[dropped_n : dropped_n + dicom_n]
    closed = sorted(addresses[dropped_n + dicom_n :], key=ipaddress.IPv4Address)
    dicom = []
    for index, address in enumerate(sorted(dicom_hosts, key=ipaddress.IPv4Address)):
        kind = "checked" if index % 3 == 2 else "open"
        title = f"HOSP{rng.randrange(16**8):08X}" if kind == "checked" else ""
        for port in rng.sample(DICOM_PORTS, rng.choice((1, 2))):
            dicom.append((address, port, kind, title))
    return Block(network, dropped, closed, dicom)


@contextlib.contextmanager
def lab_for(block: Block, time_limit: float) -> Iterator[tuple[NetnsLab, Responders]]:
    """The namespaces, the drop table and the responders, removed whatever happens."""
    net = NetnsLab(block.network, block.answering, PORTS)
    try:
        net.up()
        with Responders(block.dicom, time_limit) as responders:
            yield net, responders
    finally:
        net.down()
        check_root_clean()


def _scope(block: Block, workdir: str) -> str:
    expires = (datetime.date.today() + datetime.timedelta(days=60)).isoformat()
    path = os.path.join(workdir, "scope.toml")
    Path(path).write_text(
        "[authorisation]\n"
        'owner = "exposcan sparse-block benchmark"\n'
        'reference = "BENCH-SPARSE"\n'
        f"expires = {expires}\n\n"
        "[scope]\n"
        f'include = ["{block.network}"]\n'
        f"ports = [{', '.join(map(str, PORTS))}]\n"
        "web_ports = []\n",
        encoding="utf-8",
    )
    return path


def command_for(tool: str, block: Block, workdir: str) -> tuple[list[str], str]:
    if tool == "nmap":
        out = os.path.join(workdir, "nmap.xml")
        ports = ",".join(map(str, PORTS))
        # -v only adds the phase timings to the XML (taskbegin/taskend); it changes no timing.
        command = ["nmap", "-v", "-n", "-p", ports, "--script", "dicom-ping", "-oX", out]
        return NetnsLab.exec_in(SCAN_NS, [*command, block.network]), out
    out = os.path.join(workdir, f"{tool}.jsonl")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out)
    exposcan = str(Path(sys.executable).parent / "exposcan")
    command = [exposcan, "scan", "--scope", _scope(block, workdir), "-o", out, "--quiet"]
    if tool == "exposcan-raised":
        command += RAISED
    return NetnsLab.exec_in(SCAN_NS, command), out


def exposcan_records(path: str) -> dict[tuple[str, int], dict[str, Any]]:
    records = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("record") == "endpoint":
                records[(record["host"], int(record["port"]))] = record
    return records


def found_by_exposcan(path: str) -> set[tuple[str, int]]:
    return {key for key, record in exposcan_records(path).items() if record["exposure"] != "none"}


def missed_by_exposcan(path: str, truth: set[tuple[str, int]]) -> list[dict[str, Any]]:
    """What exposcan reported for each DICOM endpoint it did not find (no patient data:
    status and exposure words, the responder's address is the lab's own)."""
    records = exposcan_records(path)
    missed = []
    for key in sorted(truth):
        record = records.get(key, {})
        if record.get("exposure", "none") == "none":
            fields = ("status", "exposure", "error", "duration_s", "attempts")
            missed.append({"endpoint": f"{key[0]}:{key[1]}"} | {f: record.get(f) for f in fields})
    return missed


def nmap_phases(path: str) -> dict[str, int]:
    """Seconds nmap spent in each of its phases (its XML's taskbegin/taskend, written
    with ``-v``), and the hosts it found up and down."""
    root = ET.parse(path).getroot()
    began: dict[str, int] = {}
    spent: dict[str, int] = {}
    for element in root:
        task, at = element.get("task"), element.get("time")
        if task is None or at is None:
            continue
        if element.tag == "taskbegin":
            began[task] = int(at)
        elif element.tag == "taskend" and task in began:
            spent[task] = spent.get(task, 0) + int(at) - began.pop(task)
    hosts = root.find("runstats/hosts")
    if hosts is not None:
        spent["hosts_up"] = int(hosts.get("up", "0"))
        spent["hosts_down"] = int(hosts.get("down", "0"))
    return spent


def found_by_nmap(path: str) -> set[tuple[str, int]]:
    found = set()
    for host in ET.parse(path).getroot().iter("host"):
        address = host.find("address")
        if address is None:
            continue
        for port in host.iter("port"):
            for script in port.iter("script"):
                if script.get("id") == "dicom-ping" and "DICOM Service Provider discovered" in (
                    script.get("output") or ""
                ):
                    found.add((address.get("addr", ""), int(port.get("portid", "0"))))
    return found


def run_once(
    tool: str, block: Block, net: NetnsLab, responders: Responders, workdir: str, limit: float
) -> dict[str, Any]:
    command, out = command_for(tool, block, workdir)
    net.syns(reset=True)
    before = responders.stats().get("connections", 0)
    load_before = os.getloadavg()
    capture = Capture(block.network, PORTS, os.path.join(workdir, "syns.json"), limit + 120)
    started = time.monotonic()
    stderr_path = os.path.join(workdir, f"{tool}.stderr")
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    killed = False
    try:
        while True:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > limit:
                killed = True
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, rusage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        capture.kill()
        raise
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    try:
        captured = capture.stop()
    finally:
        capture.kill()
    syns = net.syns()
    connections = responders.stats().get("connections", 0) - before
    answering = {int(ipaddress.IPv4Address(a)) for a in block.answering}
    peaks = windows(captured["syns"], answering)
    peaks["capture_kernel_drops"] = captured["kernel_drops"]
    measured: dict[str, Any] = {
        "tool": tool,
        "command": command,
        "exit_code": code,
        "killed_at_time_limit": killed,
        "process_wall_s": round(wall, 3),
        "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 3),
        "syns": syns,
        "dicom_connections": connections,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        **peaks,
    }
    if tool in CEILINGS:
        overall, per_host = CEILINGS[tool]
        measured["within_limits"] = (
            peaks["peak_new_connections_1s"] <= overall and peaks["peak_per_host_1s"] <= per_host
        )
    try:
        found = found_by_nmap(out) if tool == "nmap" else found_by_exposcan(out)
        if tool == "nmap":
            measured["phases_s"] = nmap_phases(out)
    except (OSError, ET.ParseError, json.JSONDecodeError, KeyError, ValueError) as exc:
        measured["error"] = (
            f"{type(exc).__name__}: {exc}; stderr: "
            + Path(stderr_path).read_text(errors="replace")[-1000:]
        )
        found = set()
    if tool != "nmap" and found != block.truth:
        with contextlib.suppress(OSError, json.JSONDecodeError, KeyError, ValueError):
            measured["missed"] = missed_by_exposcan(out, block.truth)
    if code != 0:
        measured["stderr_tail"] = Path(stderr_path).read_text(errors="replace")[-1500:]
    measured["found"] = len(found & block.truth)
    measured["extra"] = len(found - block.truth)
    return measured


def summarise(runs: list[dict[str, Any]], block: Block) -> dict[str, Any]:
    dicom_endpoints = len(block.dicom)
    walls = [r["process_wall_s"] for r in runs]
    return {
        "runs": len(runs),
        "process_wall_s": statistics.median(walls),
        "walls": walls,
        "found": min(r["found"] for r in runs),
        "extra": max(r["extra"] for r in runs),
        "syns_per_endpoint": statistics.median(r["syns"] for r in runs) / block.endpoints,
        "conns_per_dicom_endpoint": statistics.median(r["dicom_connections"] for r in runs)
        / dicom_endpoints,
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "peak_new_connections_1s": max(r["peak_new_connections_1s"] for r in runs),
        "peak_per_host_1s": max(r["peak_per_host_1s"] for r in runs),
        "within_limits": all(r.get("within_limits", True) for r in runs),
        "load_average_1min": [r["load_average_after"][0] for r in runs],
    }


def table_text(summary: dict[str, dict[str, Any]], block: Block) -> str:
    nmap_wall = summary.get("nmap", {}).get("process_wall_s")
    lines = [
        f"{block.network}: {block.endpoints} endpoints ({len(PORTS)} ports), "
        f"{len(block.dropped)} dropped hosts, {len(block.closed)} closed, "
        f"{len({d[0] for d in block.dicom})} DICOM hosts ({len(block.dicom)} DICOM endpoints)",
        "",
        "| tool | runs | process wall (median) | x nmap | found/total | extra "
        "| SYNs per endpoint | conns per DICOM endpoint | peak new conns / 1 s (all, one host) "
        "| CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, row in summary.items():
        ratio = f"{row['process_wall_s'] / nmap_wall:.2f}x" if nmap_wall else "-"
        ceiling = CEILINGS.get(tool)
        verdict = ""
        if ceiling:
            limits = f"{ceiling[0]:g}, {ceiling[1]:g}"
            verdict = f" ({'within' if row['within_limits'] else 'OVER'} {limits})"
        lines.append(
            f"| {tool} | {row['runs']} | {row['process_wall_s']:.1f} s | {ratio} "
            f"| {row['found']}/{len(block.dicom)} "
            f"| {row['extra']} | {row['syns_per_endpoint']:.2f} | "
            f"{row['conns_per_dicom_endpoint']:.2f} | {row['peak_new_connections_1s']}, "
            f"{row['peak_per_host_1s']}{verdict} | {row['cpu_s']:.1f} |"
        )
    return "\n".join(lines)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def source_state() -> dict[str, Any]:
    """The commit measured and the files of exposcan/ changed in the working tree (a
    shared checkout: the run measures what was on disk when it started)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", _ROOT, *args], capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "exposcan")
    return {"commit": git("rev-parse", "HEAD"), "exposcan_changed": changed.splitlines()}


def write_document(
    path: Path,
    block: Block,
    runs: dict[str, list[dict[str, Any]]],
    started: str,
    source: dict[str, Any],
) -> str:
    """The JSON of every run so far (rewritten after each run: a long run killed late
    keeps what it measured) and the table text."""
    summary = {tool: summarise(rows, block) for tool, rows in runs.items() if rows}
    text = table_text(summary, block)
    document = {
        "benchmark": "sparse",
        "lab": "netns: scan and lab namespaces, veth pair, block routed one hop away",
        "started": started,
        "source": source,
        "network": block.network,
        "endpoints": block.endpoints,
        "dropped_hosts": len(block.dropped),
        "closed_hosts": len(block.closed),
        "dicom_endpoints": sorted(f"{a}:{p}" for a, p in block.truth),
        "cpus": os.cpu_count(),
        "load_average_after": os.getloadavg(),
        "summary": summary,
        "runs": runs,
        "table": text,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=int, default=22, choices=range(16, 25))
    parser.add_argument("--repeats", type=int, default=1, help="runs per tool, interleaved")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--tool-time-limit", type=float, default=1200.0)
    parser.add_argument("--output", help="JSON path (default benchmarks/results/sparse-*.json)")
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "nft")):
        parser.error("needs root, ip and nft (namespaces, the drop table, nmap's SYN scan)")
    if "nmap" in tools and shutil.which("nmap") is None:
        parser.error("nmap is not installed (apt-get install nmap), or leave it out with --tools")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_exit)
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (a shell's `&`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    block = plan_block(f"198.18.0.0/{args.prefix}", args.seed)
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    started = datetime.datetime.now(datetime.UTC)
    RESULTS.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = Path(args.output) if args.output else RESULTS / f"sparse-{stamp}.json"
    source = source_state()
    responders_limit = (args.tool_time_limit + 180) * args.repeats * len(tools) + 300
    with (
        tempfile.TemporaryDirectory(prefix="exposcan-sparse-") as workdir,
        lab_for(block, responders_limit) as (net, responders),
    ):
        for repeat in range(args.repeats):
            for tool in tools:
                run = run_once(tool, block, net, responders, workdir, args.tool_time_limit)
                check_root_clean()
                runs[tool].append(run)
                write_document(path, block, runs, started.isoformat(timespec="seconds"), source)
                print(
                    f"run {repeat + 1}/{args.repeats} {tool}: {run['process_wall_s']:.1f} s, "
                    f"found {run['found']}/{len(block.dicom)}, exit {run['exit_code']}, "
                    f"peak {run['peak_new_connections_1s']}/s "
                    f"({run['peak_per_host_1s']}/s one host), load {run['load_average_after']}",
                    file=sys.stderr,
                    flush=True,
                )
    print(write_document(path, block, runs, started.isoformat(timespec="seconds"), source))
    print(f"\nwritten: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # the lab is gone by now (lab_for's finally)
        print("interrupted; namespaces, veth and nftables table removed", file=sys.stderr)
        raise SystemExit(130) from None

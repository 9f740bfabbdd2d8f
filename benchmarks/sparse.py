"""Sparse-block lab: exposcan at its defaults and with raised limits against nmap at its
defaults, on a loopback block where most addresses drop every packet.

The block (default 127.77.0.0/22, ``--prefix 21`` or ``20`` for larger ones), every
address but the network and broadcast ones, seeded and deterministic:

==========  ======  ==============================================================
kind        share   behaviour
==========  ======  ==============================================================
dropped     98 %    every packet to it is dropped (an nftables table of the
                    benchmark's own, input hook of ``lo``): firewalled or unused
closed      ~1.4 %  nothing listens: every port answers RST
dicom       ~0.6 %  a DICOM responder (benchmarks/lab.py) on one or two of 104,
                    11112 and 4242: two in three accept any called AE title, one
                    in three checks it (A-ASSOCIATE-RJ); its other ports RST
==========  ======  ==============================================================

Five ports, as issue 13 measured: 104, 11112, 4242, 2761, 2762 (binding 104 needs
root, as nftables does). The responders stay off 2761 and 2762: exposcan starts TLS
on 2762 by default, and a plain responder there would measure TLS fallbacks, not the
block.

Tools, each a process of its own, timed as the user waits (spawn to exit, ``wait4``):

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
connections the responders accepted over the DICOM endpoints.

    sudo python benchmarks/sparse.py [--prefix 22] [--repeats 1]
        [--tools exposcan,exposcan-raised,nmap] [--seed 13]

Prints a table, writes benchmarks/results/sparse-<UTC time>.json. The nftables
table is removed on every exit (normal, an exception, SIGINT, SIGTERM, SIGHUP).
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
from benchmarks.lab import HostSpec, Lab
from tests.support.nft import DropTable, nft_available

PORTS = (104, 11112, 4242, 2761, 2762)
DICOM_PORTS = (104, 11112, 4242)
DROPPED_SHARE = 0.98
DICOM_SHARE = 0.006
RAISED = ("--rate", "2000", "--concurrency", "512", "--timeout", "3")
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


def plan_block(network: str, seed: int) -> Block:
    net = ipaddress.IPv4Network(network)
    if not net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
        raise SystemExit(f"the lab is loopback only; {network} is not in 127.0.0.0/8")
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
def lab_for(block: Block, table: DropTable) -> Iterator[list[Lab]]:
    """The drop rules, the SYN counter, and one responder process per DICOM port."""
    table.count_syns(block.network, PORTS)
    table.drop(block.dropped, None)
    labs: list[Lab] = []
    with contextlib.ExitStack() as stack:
        for port in DICOM_PORTS:
            hosts = [HostSpec(a, k, t, 0) for a, p, k, t in block.dicom if p == port]
            if not hosts:
                continue
            lab = Lab(1, port=port, time_limit=3600, idle_timeout=10)
            lab.hosts = hosts  # placed where the block says, not from the lab's plan
            labs.append(stack.enter_context(lab))
        yield labs


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
        return [*command, block.network], out
    out = os.path.join(workdir, f"{tool}.jsonl")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out)
    exposcan = str(Path(sys.executable).parent / "exposcan")
    command = [exposcan, "scan", "--scope", _scope(block, workdir), "-o", out, "--quiet"]
    if tool == "exposcan-raised":
        command += RAISED
    return command, out


def found_by_exposcan(path: str) -> set[tuple[str, int]]:
    found = set()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("record") == "endpoint" and record.get("exposure") != "none":
                found.add((record["host"], int(record["port"])))
    return found


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
    tool: str, block: Block, labs: list[Lab], table: DropTable, workdir: str, limit: float
) -> dict[str, Any]:
    command, out = command_for(tool, block, workdir)
    table.syns(reset=True)
    before = sum(lab.stats().get("connections", 0) for lab in labs)
    started = time.monotonic()
    stderr_path = os.path.join(workdir, f"{tool}.stderr")
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        while True:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > limit:
                process.kill()
                pid, status, rusage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
    except BaseException:
        process.kill()
        process.wait()
        raise
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    syns = table.syns()
    connections = sum(lab.stats().get("connections", 0) for lab in labs) - before
    measured: dict[str, Any] = {
        "tool": tool,
        "command": command,
        "exit_code": code,
        "process_wall_s": round(wall, 3),
        "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 3),
        "syns": syns,
        "dicom_connections": connections,
    }
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
    }


def table_text(summary: dict[str, dict[str, Any]], block: Block) -> str:
    nmap_wall = summary.get("nmap", {}).get("process_wall_s")
    lines = [
        f"{block.network}: {block.endpoints} endpoints ({len(PORTS)} ports), "
        f"{len(block.dropped)} dropped hosts, {len(block.closed)} closed, "
        f"{len({d[0] for d in block.dicom})} DICOM hosts ({len(block.dicom)} DICOM endpoints)",
        "",
        "| tool | process wall (median) | x nmap | found/total | extra | SYNs per endpoint "
        "| conns per DICOM endpoint | CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, row in summary.items():
        ratio = f"{row['process_wall_s'] / nmap_wall:.2f}x" if nmap_wall else "-"
        lines.append(
            f"| {tool} | {row['process_wall_s']:.1f} s | {ratio} "
            f"| {row['found']}/{len(block.dicom)} "
            f"| {row['extra']} | {row['syns_per_endpoint']:.2f} | "
            f"{row['conns_per_dicom_endpoint']:.2f} | {row['cpu_s']:.1f} |"
        )
    return "\n".join(lines)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=int, default=22, choices=(20, 21, 22, 23, 24))
    parser.add_argument("--repeats", type=int, default=1, help="runs per tool, interleaved")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--tool-time-limit", type=float, default=1200.0)
    parser.add_argument("--output", help="JSON path (default benchmarks/results/sparse-*.json)")
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    if not nft_available():
        parser.error("needs nft and root (the drop table, and nmap's SYN scan)")
    if "nmap" in tools and shutil.which("nmap") is None:
        parser.error("nmap is not installed (apt-get install nmap), or leave it out with --tools")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_exit)
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (a shell's `&`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    block = plan_block(f"127.77.0.0/{args.prefix}", args.seed)
    table = DropTable(f"exposcan_sparse_{os.getpid()}")
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    started = datetime.datetime.now(datetime.UTC)
    try:
        table.create()
        with (
            tempfile.TemporaryDirectory(prefix="exposcan-sparse-") as workdir,
            lab_for(block, table) as labs,
        ):
            for repeat in range(args.repeats):
                for tool in tools:
                    run = run_once(tool, block, labs, table, workdir, args.tool_time_limit)
                    runs[tool].append(run)
                    print(
                        f"run {repeat + 1}/{args.repeats} {tool}: {run['process_wall_s']:.1f} s, "
                        f"found {run['found']}/{len(block.dicom)}, exit {run['exit_code']}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        table.remove()
    summary = {tool: summarise(rows, block) for tool, rows in runs.items() if rows}
    text = table_text(summary, block)
    print(text)
    load = os.getloadavg()
    document = {
        "benchmark": "sparse",
        "started": started.isoformat(timespec="seconds"),
        "network": block.network,
        "endpoints": block.endpoints,
        "dropped_hosts": len(block.dropped),
        "closed_hosts": len(block.closed),
        "dicom_endpoints": sorted(f"{a}:{p}" for a, p in block.truth),
        "cpus": os.cpu_count(),
        "load_average_after": load,
        "summary": summary,
        "runs": runs,
        "table": text,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = Path(args.output) if args.output else RESULTS / f"sparse-{stamp}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # the table is gone by now (main's finally)
        print("interrupted; the nftables table was removed", file=sys.stderr)
        raise SystemExit(130) from None

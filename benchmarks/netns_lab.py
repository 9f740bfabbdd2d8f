"""A sparse block one router hop away: two network namespaces the benchmark creates,
joined by a veth pair, where nmap's host discovery works as it does in the field.

::

    exposcan-bench-scan                      exposcan-bench-lab
    lo, xbench-scan 198.19.255.1/30  <-veth->  xbench-lab 198.19.255.2/30, lo
    198.18.0.0/16 via 198.19.255.2           local 198.18.0.0/16 dev lo
                                             nftables table exposcan_bench:
                                               drops every packet to dead addresses

The block lives in 198.18.0.0/15 (RFC 2544's benchmarking range) and only inside
these namespaces: neither holds any interface but ``lo`` and its end of the veth, and
the root namespace never routes the range (:func:`check_root_clean`, before, during
and after every run). In the lab namespace every address of the block is local (one
``local`` route, AnyIP), so closed hosts answer RST and ICMP echo from the kernel;
the nftables table drops every packet (ICMP too) to the dead ones and counts the SYNs
on the scanned ports. From the scan namespace the targets sit behind a gateway, so
a scanner ARPs once for the gateway, never for each target (nmap's ping sweep sends
its ICMP and TCP probes, as to a remote network).

DICOM responders are benchmarks/lab.py's (``Responder``), served by
``python benchmarks/netns_lab.py --worker`` started with ``ip netns exec``; a SYN
capture (``--capture``, an AF_PACKET socket on the lab's veth end, kernel time
stamps) records every SYN for the one-second-window limits.

:class:`NetnsLab` builds all of it and :meth:`NetnsLab.down` removes it (table,
namespaces and with them the veth), idempotent, on every exit: the caller's
``finally`` and ``atexit``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ipaddress
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

if (_ROOT := str(Path(__file__).resolve().parent.parent)) not in sys.path:
    sys.path.insert(1, _ROOT)
from benchmarks import lab

SCAN_NS = "exposcan-bench-scan"
LAB_NS = "exposcan-bench-lab"
VETH_SCAN = "xbench-scan"
VETH_LAB = "xbench-lab"
SCAN_LINK = "198.19.255.1"
LAB_LINK = "198.19.255.2"
BENCH_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
BLOCK_RANGE = ipaddress.IPv4Network("198.18.0.0/16")
TABLE = "exposcan_bench"
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_TIMESTAMPNS = 35


def _run(*command: str, check: bool = True, timeout: float = 30) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(command[:6])}: {done.stderr.strip()[:300]}")
    return done.stdout


def current_netns() -> str:
    """The name ``ip netns identify`` gives this process's network namespace ("" in root)."""
    return _run("ip", "netns", "identify", str(os.getpid()), check=False).strip()


def root_routes_in_range() -> list[str]:
    """Routes and addresses of the root namespace that touch the benchmarking range."""
    found = []
    for line in _run("ip", "-4", "route", "show", "table", "all").splitlines():
        words = line.split()
        for word in words[:2]:  # "198.18.0.0/16 via ..." or "local 198.18.0.1 dev ..."
            with contextlib.suppress(ValueError):
                if ipaddress.IPv4Network(word, strict=False).overlaps(BENCH_RANGE):
                    found.append(line.strip())
                    break
    for line in _run("ip", "-4", "-o", "addr", "show").splitlines():
        words = line.split()
        if "inet" in words:
            network = ipaddress.IPv4Interface(words[words.index("inet") + 1]).network
            if network.overlaps(BENCH_RANGE):
                found.append(line.strip())
    return found


def check_root_clean() -> None:
    """Fail loudly if the root namespace routes (or holds) any of the block's range."""
    if current_netns():
        raise RuntimeError("run the benchmark from the root network namespace")
    if found := root_routes_in_range():
        raise RuntimeError(f"the root namespace routes the benchmark range: {found[:3]}")


class NetnsLab:
    """The two namespaces, the veth pair, the routes and the drop table."""

    def __init__(self, network: str, alive: Iterable[str], ports: Sequence[int]) -> None:
        self.network = ipaddress.IPv4Network(network)
        if not self.network.subnet_of(BLOCK_RANGE):
            raise ValueError(f"the lab's block must lie in {BLOCK_RANGE}, not {network}")
        self.alive = sorted(alive, key=ipaddress.IPv4Address)
        if not all(ipaddress.IPv4Address(a) in self.network for a in self.alive):
            raise ValueError("every answering address must lie in the block")
        self.ports = tuple(ports)
        self._made = False

    def up(self) -> NetnsLab:
        check_root_clean()
        existing = _run("ip", "netns", "list")
        if SCAN_NS in existing or LAB_NS in existing:
            raise RuntimeError(
                f"{SCAN_NS} or {LAB_NS} exists (another run, or one killed with -9): "
                f"`ip netns del {SCAN_NS}; ip netns del {LAB_NS}` once it is over"
            )
        self._made = True
        atexit.register(self.down)
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        check_root_clean()
        return self

    def _build(self) -> None:
        _run("ip", "netns", "add", SCAN_NS)
        _run("ip", "netns", "add", LAB_NS)
        # Created with both ends already inside the namespaces: never in the root one.
        _run("ip", "link", "add", VETH_SCAN, "netns", SCAN_NS, "type", "veth", "peer", "name",
             VETH_LAB, "netns", LAB_NS)  # fmt: skip
        for ns, veth, address in ((SCAN_NS, VETH_SCAN, SCAN_LINK), (LAB_NS, VETH_LAB, LAB_LINK)):
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "addr", "add", f"{address}/30", "dev", veth)
            _run("ip", "-n", ns, "link", "set", veth, "up")
        _run("ip", "-n", SCAN_NS, "route", "add", str(self.network), "via", LAB_LINK)
        _run("ip", "-n", LAB_NS, "route", "add", "local", str(self.network), "dev", "lo")
        self.nft(
            f"table inet {TABLE} {{\n"
            f"  set alive {{ type ipv4_addr; elements = {{ {', '.join(self.alive)} }} }}\n"
            "  counter syns { }\n"
            "  chain input {\n"
            "    type filter hook input priority -10; policy accept;\n"
            f'    iifname "{VETH_LAB}" ip daddr {self.network} tcp dport '
            f"{{ {', '.join(map(str, self.ports))} }} tcp flags & (syn | ack) == syn "
            'counter name "syns"\n'
            f'    iifname "{VETH_LAB}" ip daddr {self.network} ip daddr != @alive drop\n'
            "  }\n"
            "}\n"
        )

    @staticmethod
    def nft(script: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", LAB_NS, "nft", "-f", "-"],
            input=script,
            text=True,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def syns(self, *, reset: bool = False) -> int:
        """SYNs to the block on the scanned ports so far (first and retransmitted)."""
        listed = _run("ip", "netns", "exec", LAB_NS, "nft", "-j", "reset" if reset else "list",
                      "counter", "inet", TABLE, "syns")  # fmt: skip
        for item in json.loads(listed).get("nftables", []):
            if "counter" in item:
                return int(item["counter"]["packets"])
        return 0

    @staticmethod
    def exec_in(ns: str, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *command]

    def down(self) -> None:
        """Remove the table and both namespaces (the veth goes with them); never raises."""
        if not self._made:
            return
        with contextlib.suppress(Exception):
            _run("ip", "netns", "exec", LAB_NS, "nft", "delete", "table", "inet", TABLE)
        for ns in (SCAN_NS, LAB_NS):
            with contextlib.suppress(Exception):
                _run("ip", "netns", "del", ns, check=False)
        self._made = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.down)

    def gone(self) -> bool:
        return not {SCAN_NS, LAB_NS} & set(_run("ip", "netns", "list").split())


# -- responders and SYN capture, run inside the lab namespace -------------------


class Responders(lab.Lab):
    """benchmarks/lab.py's controller for responders on several ports of the block,
    in one worker process inside the lab namespace."""

    def __init__(self, hosts: Sequence[tuple[str, int, str, str]], time_limit: float) -> None:
        super().__init__(1, time_limit=time_limit, idle_timeout=10)
        self.placed = list(hosts)  # (address, port, kind, called AE title)
        self.hosts = []

    def __enter__(self) -> Responders:
        # Not Lab.__enter__: its check for listeners looks at the root namespace.
        with contextlib.ExitStack() as undo:
            undo.callback(self.close)
            self._start()
            undo.pop_all()
        return self

    def _start(self) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--worker"]
        process = subprocess.Popen(
            NetnsLab.exec_in(LAB_NS, command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self._workers.append(process)
        config = {"hosts": self.placed, "time_limit": self.time_limit, "idle_timeout": 10}
        assert process.stdin is not None
        process.stdin.write(json.dumps(config) + "\n")
        process.stdin.flush()
        ready = self._read(process, timeout=60.0)
        if "ready" not in ready:
            raise RuntimeError(f"responder worker failed to start: {ready}")


async def _serve(config: dict[str, Any]) -> None:
    if current_netns() != LAB_NS:
        raise SystemExit(f"the responders bind only inside {LAB_NS}")
    loop = asyncio.get_running_loop()
    shared = lab.Shared(float(config["idle_timeout"]))
    servers = []
    for address, port, kind, title in config["hosts"]:
        if ipaddress.IPv4Address(address) not in BLOCK_RANGE:
            raise SystemExit(f"refusing to bind {address}: not in {BLOCK_RANGE}")
        host = lab.HostSpec(address, kind, title, 0)
        servers.append(
            await loop.create_server(
                lambda host=host: lab.Responder(host, shared), address, int(port), backlog=1024
            )
        )
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    lab._reply({"ready": len(servers), "pid": os.getpid()})
    # Serve until "stop", the parent's going away (EOF) or the hard time limit; SIGTERM
    # and SIGINT end the process as they would any other.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(float(config["time_limit"])):
            while (line := await reader.readline()) and line.strip() != b"stop":
                if line.strip() == b"stats":
                    times = os.times()
                    counters = shared.counters.as_dict()
                    lab._reply({**counters, "cpu_s": times.user + times.system})
    for server in servers:
        server.close()


def capture_main(network: str, ports: Sequence[int], out: str, time_limit: float) -> int:
    """Record (time, destination, port, source port, sequence) of every SYN arriving on the
    lab's veth end until stdin says ``stop`` (or closes); then write them as JSON."""
    if current_netns() != LAB_NS:
        raise SystemExit(f"the capture runs only inside {LAB_NS}")
    net = ipaddress.IPv4Network(network)
    low, high = int(net.network_address), int(net.broadcast_address)
    wanted = set(ports)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind((VETH_LAB, 0))
    records: list[tuple[float, int, int, int, int]] = []
    print("ready", flush=True)
    deadline = time.monotonic() + time_limit
    running = True
    while running and time.monotonic() < deadline:
        readable, _, _ = select.select([sock, sys.stdin], [], [], 1.0)
        if sys.stdin in readable:
            line = sys.stdin.readline()
            running = bool(line) and line.strip() != "stop"
        if sock not in readable:
            continue
        while True:  # drain what is queued
            try:
                frame, ancillary, _flags, address = sock.recvmsg(128, 64, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if address[2] == socket.PACKET_OUTGOING or len(frame) < 54:
                continue
            ihl = (frame[14] & 0x0F) * 4
            if frame[23] != 6:  # not TCP
                continue
            dst = int.from_bytes(frame[30:34], "big")
            tcp = frame[14 + ihl :]
            sport, dport, seq = struct.unpack_from("!HHI", tcp)
            flags = tcp[13]
            if flags & 0x12 != 0x02 or dport not in wanted or not low <= dst <= high:
                continue
            stamp = time.time()
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = struct.unpack("qq", data[:16])
                    stamp = seconds + nanoseconds / 1e9
            records.append((stamp, dst, dport, sport, seq))
    _packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    Path(out).write_text(json.dumps({"syns": records, "kernel_drops": drops}), encoding="utf-8")
    print("done", flush=True)
    return 0


class Capture:
    """Start/stop the SYN capture around one tool run; :meth:`stop` returns its records."""

    def __init__(self, network: str, ports: Sequence[int], out: str, time_limit: float) -> None:
        self.out = out
        command = [sys.executable, str(Path(__file__).resolve()), "--capture", network,
                   ",".join(map(str, ports)), out, str(time_limit)]  # fmt: skip
        self.process = subprocess.Popen(
            NetnsLab.exec_in(LAB_NS, command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.kill()
            raise RuntimeError("the SYN capture did not start")

    def stop(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        self.process.stdout.readline()
        self.process.wait(timeout=60)
        result: dict[str, Any] = json.loads(Path(self.out).read_text(encoding="utf-8"))
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def peak_in_window(times: list[float], window: float = 1.0) -> int:
    """Most events in any half-open window [t, t + window) (sliding, any start)."""
    times = sorted(times)
    best, start = 0, 0
    for end, stamp in enumerate(times):
        while stamp - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def windows(records: list[list[float]], answering: set[int]) -> dict[str, Any]:
    """One-second-window peaks from a capture: new connections (first SYNs; a kernel
    retransmission repeats source port and sequence) in all, and per host."""
    first: dict[tuple[int, int, int, int], float] = {}
    for stamp, dst, dport, sport, seq in records:
        first.setdefault((int(dst), int(dport), int(sport), int(seq)), stamp)
    per_host: dict[int, list[float]] = {}
    for (dst, _dport, _sport, _seq), stamp in first.items():
        per_host.setdefault(dst, []).append(stamp)
    host_peaks = {dst: peak_in_window(stamps) for dst, stamps in per_host.items()}
    start = min(first.values(), default=0.0)
    busiest = max(host_peaks, key=lambda dst: host_peaks[dst], default=None)
    # The busiest host's new connections (port, seconds from the first SYN of the run):
    # what a reader needs to see whether a per-host peak is a limit broken.
    busiest_events = sorted(
        (round(stamp - start, 4), dport)
        for (dst, dport, _sport, _seq), stamp in first.items()
        if dst == busiest
    )
    return {
        "syns_captured": len(records),
        "new_connections": len(first),
        "peak_new_connections_1s": peak_in_window(list(first.values())),
        "peak_per_host_1s": max(host_peaks.values(), default=0),
        "peak_per_answering_host_1s": max(
            (peak for dst, peak in host_peaks.items() if dst in answering), default=0
        ),
        "busiest_host": str(ipaddress.IPv4Address(busiest)) if busiest is not None else None,
        "busiest_host_connections": busiest_events,
    }


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--worker"]:
        asyncio.run(_serve(json.loads(sys.stdin.readline())))
        return 0
    if argv[:1] == ["--capture"] and len(argv) == 5:
        ports = [int(p) for p in argv[2].split(",")]
        return capture_main(argv[1], ports, argv[3], float(argv[4]))
    print("usage: run by benchmarks/sparse.py (--worker | --capture ...)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

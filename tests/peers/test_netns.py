"""tests/support/netns.py: namespaces that hold only lo, a faithful forwarder into them, cleanup on
every path, and the audit of listeners beyond loopback.

The scripted upstream runs inside a namespace the test creates (only ``lo``); every
connection the test makes goes to 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import netns

pytestmark = pytest.mark.peers

TIMEOUT_S = 5.0
BIG = 4 * 1024 * 1024

#: An upstream for the forwarder, run in the namespace: ``python -c UPSTREAM PORT DIR``. The
#: first byte of each connection says what to do; what it saw goes to ``DIR/<n>.txt``.
UPSTREAM = r"""
import hashlib, os, socket, struct, sys, threading
port, out = int(sys.argv[1]), sys.argv[2]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", port))  # as the real peers do: every interface of the namespace
server.listen(16)

def report(n, text):
    with open(os.path.join(out, f"{n}.tmp"), "w") as f:
        f.write(text)
    os.rename(os.path.join(out, f"{n}.tmp"), os.path.join(out, f"{n}.txt"))

def drain(conn):
    digest, size = hashlib.sha256(), 0
    try:
        while data := conn.recv(65536):
            digest.update(data)
            size += len(data)
    except ConnectionResetError:
        return "reset", size, digest.hexdigest()
    return "eof", size, digest.hexdigest()

def serve(n, conn, peer):
    command = conn.recv(1)
    if command == b"E":  # upper-case echo until EOF, then "done" and close
        while data := conn.recv(65536):
            conn.sendall(data.upper())
        conn.sendall(b"done")
        conn.close()
    elif command == b"F":  # "bye", FIN, then read the client's rest until its FIN
        conn.sendall(b"bye")
        conn.shutdown(socket.SHUT_WR)
        how, size, digest = drain(conn)
        report(n, f"{how} {size} {digest}")
        conn.close()
    elif command == b"R":  # reset
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    elif command == b"S":  # read until the client's reset or FIN, say which
        how, size, digest = drain(conn)
        report(n, f"{how} {size} {digest}")
        conn.close()
    elif command == b"B":  # send BIG pseudo-random bytes, then FIN; read the client's BIG
        block = hashlib.sha256(b"x").digest() * 2048
        for _ in range(BIG_BYTES // len(block)):
            conn.sendall(block)
        conn.shutdown(socket.SHUT_WR)
        how, size, digest = drain(conn)
        report(n, f"{how} {size} {digest}")
        conn.close()
    elif command == b"A":  # who is calling
        conn.sendall(peer[0].encode())
        conn.close()

n = 0
while True:
    conn, peer = server.accept()
    n += 1
    threading.Thread(target=serve, args=(n, conn, peer), daemon=True).start()
""".replace("BIG_BYTES", str(BIG))


class Upstream:
    def __init__(self, box: netns.Isolated, out: Path, proc: subprocess.Popen[bytes]) -> None:
        self.box, self.out, self.proc = box, out, proc
        self.port, self.closed_port = box.ports

    def connect(self, port: int | None = None) -> socket.socket:
        return socket.create_connection(("127.0.0.1", port or self.port), timeout=TIMEOUT_S)

    def report(self, seen_before: set[str]) -> str:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            new = {p.name for p in self.out.glob("*.txt")} - seen_before
            if new:
                (name,) = new
                return (self.out / name).read_text()
            time.sleep(0.01)
        raise AssertionError("the upstream reported nothing")

    def reports(self) -> set[str]:
        return {p.name for p in self.out.glob("*.txt")}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    workdir = tmp_path_factory.mktemp("netns")
    out = workdir / "seen"
    out.mkdir()
    # Two ports: the first has the scripted upstream, nothing listens on the second.
    with netns.isolated(2, workdir / "forward.log") as box:
        argv = [sys.executable, "-I", "-c", UPSTREAM, str(box.ports[0]), str(out)]
        proc = subprocess.Popen(box.argv(argv), start_new_session=True)
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not box.listening(box.ports[0]):
                assert proc.poll() is None, "the upstream exited"
                assert time.monotonic() < deadline, "the upstream is not listening"
                time.sleep(0.01)
            yield Upstream(box, out, proc)
        finally:
            proc.kill()
            proc.wait(timeout=TIMEOUT_S)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


# --------------------------------------------------------------------------- forwarding


def test_bytes_both_ways_and_the_clients_fin_reaches_the_server(upstream: Upstream) -> None:
    with upstream.connect() as sock:
        sock.sendall(b"Ehello")
        assert sock.recv(100) == b"HELLO"
        sock.sendall(b" again")
        sock.shutdown(socket.SHUT_WR)  # the upstream only says "done" after our FIN
        assert read_all(sock) == b" AGAINdone"


def test_the_servers_fin_reaches_the_client_which_can_still_send(upstream: Upstream) -> None:
    before = upstream.reports()
    with upstream.connect() as sock:
        sock.sendall(b"F")
        assert read_all(sock) == b"bye"  # EOF: the server's FIN was passed on
        sock.sendall(b"after the server's FIN")
        sock.shutdown(socket.SHUT_WR)
        report = upstream.report(before)
    digest = hashlib.sha256(b"after the server's FIN").hexdigest()
    assert report == f"eof 22 {digest}"


def test_large_transfers_both_ways_arrive_whole(upstream: Upstream) -> None:
    before = upstream.reports()
    block = hashlib.sha256(b"x").digest() * 2048
    mine = os.urandom(BIG)
    with upstream.connect() as sock:
        sock.sendall(b"B")
        got = read_all(sock)  # the upstream sends all of its bytes first, then reads ours
        sock.sendall(mine)
        sock.shutdown(socket.SHUT_WR)
        report = upstream.report(before)
    assert got == block * (BIG // len(block))
    assert report == f"eof {BIG} {hashlib.sha256(mine).hexdigest()}"


def test_a_reset_from_the_server_is_a_reset_for_the_client(upstream: Upstream) -> None:
    with upstream.connect() as sock:
        sock.sendall(b"R")
        with pytest.raises(ConnectionResetError):
            read_all(sock)


def test_a_reset_from_the_client_is_a_reset_for_the_server(upstream: Upstream) -> None:
    before = upstream.reports()
    sock = upstream.connect()
    sock.sendall(b"S1234")
    time.sleep(0.2)  # let the bytes through before the reset
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # SO_LINGER 0: an RST
    assert upstream.report(before).startswith("reset 4 ")


def _connect_and_read(port: int) -> bytes:
    with socket.socket() as sock:
        sock.settimeout(TIMEOUT_S)
        sock.connect(("127.0.0.1", port))
        return sock.recv(1)


def test_refused_upstream_is_a_reset_for_the_client(upstream: Upstream) -> None:
    # Not ECONNREFUSED as without the forwarder (its listener accepted first): a reset, seen
    # by connect() or by the first read, whichever the client is in when it arrives.
    assert not upstream.box.listening(upstream.closed_port)
    with pytest.raises(ConnectionResetError):
        _connect_and_read(upstream.closed_port)


def test_the_server_sees_a_loopback_caller(upstream: Upstream) -> None:
    # Orthanc's RemoteAccessAllowed false admits loopback callers only.
    with upstream.connect() as sock:
        sock.sendall(b"A")
        assert read_all(sock) == b"127.0.0.1"


def test_the_forwarder_is_the_only_listener_here_and_the_server_is_inside(
    upstream: Upstream,
) -> None:
    port = upstream.port
    here = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert here[3] == f"127.0.0.1:{port}", here  # only the forwarder, on loopback
    inside = netns.exposed_listeners(root=upstream.proc.pid)
    # Positive control for the audit: inside its namespace the upstream does listen on
    # 0.0.0.0, as the real peers do; in the root namespace nothing of ours does.
    assert inside == [f"python (pid {upstream.proc.pid}) on 0.0.0.0:{port}"]
    assert netns.exposed_listeners() == []
    assert os.stat(f"/proc/{upstream.proc.pid}/ns/net").st_ino == upstream.box.namespace.inode
    assert os.stat("/proc/self/ns/net").st_ino != upstream.box.namespace.inode


# --------------------------------------------------------------------------- lifecycle


def _only_lo(name: str) -> list[str]:
    out = subprocess.run(
        ["ip", "-n", name, "-o", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split(":")[1].strip() for line in out.splitlines()]


def test_a_namespace_holds_only_lo_and_is_gone_after_use(tmp_path: Path) -> None:
    with netns.isolated(1, tmp_path / "forward.log") as box:
        name, inode = box.namespace.name, box.namespace.inode
        assert name.startswith(f"exposcan-{os.getpid()}-")
        assert _only_lo(name) == ["lo"]
        assert (netns.RUN_DIR / name).exists()
        assert box.namespace.pids() == [box.forwarder.pid]
    assert not (netns.RUN_DIR / name).exists()
    assert netns._pids_in(inode) == []
    assert box.forwarder.returncode == 0


def _start_sleeper(box: netns.Isolated) -> subprocess.Popen[bytes]:
    sleeper = subprocess.Popen(box.argv(["sleep", "60"]), start_new_session=True)
    deadline = time.monotonic() + TIMEOUT_S
    while sleeper.pid not in box.namespace.pids() and time.monotonic() < deadline:
        time.sleep(0.01)  # until ip netns exec has entered the namespace
    return sleeper


def test_a_failure_inside_still_removes_everything(tmp_path: Path) -> None:
    started: list[tuple[netns.Isolated, subprocess.Popen[bytes]]] = []

    def failing_test() -> None:
        with netns.isolated(1, tmp_path / "forward.log") as box:
            started.append((box, _start_sleeper(box)))
            raise RuntimeError("a test failed")

    with pytest.raises(RuntimeError):
        failing_test()
    ((box, sleeper),) = started
    assert sleeper.wait(timeout=TIMEOUT_S) == -9  # killed with the namespace
    assert not box.namespace.path.exists()


def test_the_forwarder_kills_its_namespace_when_the_test_process_dies(tmp_path: Path) -> None:
    with netns.isolated(1, tmp_path / "forward.log") as box:
        sleeper = _start_sleeper(box)
        box.orphan()  # the control pipe closes without a stop, as when pytest is killed
        assert box.forwarder.wait(timeout=TIMEOUT_S) == 0
        assert sleeper.wait(timeout=TIMEOUT_S) == -9
    assert not box.namespace.path.exists()


def test_stale_namespaces_of_dead_runs_are_swept() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"exposcan-{dead.pid}-1"
    mine = f"exposcan-{os.getpid()}-999999"
    for each in (name, mine):
        subprocess.run(["ip", "netns", "add", each], check=True, timeout=TIMEOUT_S)
    sleeper = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    try:
        deadline = time.monotonic() + TIMEOUT_S
        inode = os.stat(netns.RUN_DIR / name).st_ino
        while not netns._pids_in(inode) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert name in netns.sweep_stale()
        assert sleeper.wait(timeout=TIMEOUT_S) == -9
        assert not (netns.RUN_DIR / name).exists()
        assert (netns.RUN_DIR / mine).exists()  # this run is alive: left alone
    finally:
        sleeper.kill()
        sleeper.wait(timeout=TIMEOUT_S)
        for each in (name, mine):
            subprocess.run(["ip", "netns", "delete", each], capture_output=True, check=False)


# --------------------------------------------------------------------------- audit


def _fake_proc(tmp_path: Path) -> Path:
    """A /proc with pid 100 (the test process), its child 200 and an unrelated 300."""
    proc = tmp_path / "proc"
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"  # noqa: E501
    rows = {
        # inode: (local address, state)
        11: ("00000000:0068", "0A"),  # 0.0.0.0:104, listening
        12: ("0100007F:0069", "0A"),  # 127.0.0.1:105, listening
        13: ("00000000:006A", "01"),  # 0.0.0.0:106, established: not a listener
        14: ("0201A8C0:006B", "0A"),  # 192.168.1.2:107, listening
        15: ("00000000:006C", "0A"),  # 0.0.0.0:108, listening, the unrelated process's
    }
    rows6 = {
        21: ("00000000000000000000000000000000:0070", "0A"),  # [::]:112
        22: ("00000000000000000000000001000000:0071", "0A"),  # [::1]:113
        23: ("0000000000000000FFFF00000100007F:0072", "0A"),  # [::ffff:127.0.0.1]:114
    }
    for table, entries in (("tcp", rows), ("tcp6", rows6)):
        lines = [
            f"   {n}: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000"
            f"     0        0 {inode} 1 0000000000000000 100 0 0 10 0"
            for n, (inode, (local, state)) in enumerate(entries.items())
        ]
        for pid in (100, 300):  # one namespace
            (proc / str(pid) / "net").mkdir(parents=True, exist_ok=True)
            (proc / str(pid) / "net" / table).write_text(header + "\n".join(lines) + "\n")
    owners = {100: (21, 22), 200: (11, 12, 13, 14, 23), 300: (15,)}
    for pid, inodes in owners.items():
        (proc / str(pid) / "fd").mkdir(parents=True, exist_ok=True)
        (proc / str(pid) / "comm").write_text(f"proc{pid}\n")
        (proc / str(pid) / "task" / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "task" / str(pid) / "children").write_text("")
        for fd, inode in enumerate(inodes, 3):
            (proc / str(pid) / "fd" / str(fd)).symlink_to(f"socket:[{inode}]")
        (proc / str(pid) / "fd" / "0").symlink_to("/dev/null")
    (proc / "100" / "task" / "100" / "children").write_text("200 ")
    return proc


def test_the_audit_names_only_our_listeners_beyond_loopback(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    assert netns.exposed_listeners(100, proc=proc) == [
        "proc100 (pid 100) on :::112",
        "proc200 (pid 200) on 0.0.0.0:104",
        "proc200 (pid 200) on 192.168.1.2:107",
    ]
    # From the unrelated process: its own listener, not ours.
    assert netns.exposed_listeners(300, proc=proc) == ["proc300 (pid 300) on 0.0.0.0:108"]


def test_sock_diag_and_the_proc_tables_agree_here() -> None:
    assert netns._netlink_listeners() == netns._table_listeners(Path("/proc/self/net"))


def test_nothing_this_run_started_listens_beyond_loopback() -> None:
    assert netns.exposed_listeners() == []


def test_the_hook_fails_a_test_that_listens_beyond_loopback(tmp_path: Path) -> None:
    # A pytest run with the hook, inside a namespace of its own (only lo: binding 0.0.0.0
    # there exposes nothing), whose one test listens on 0.0.0.0 and another on 127.0.0.1.
    (tmp_path / "test_exposed.py").write_text(
        "import socket\n"
        "def test_any():\n"
        "    with socket.create_server(('0.0.0.0', 0)):\n"
        "        pass\n"
        "    global kept\n"
        "    kept = socket.create_server(('0.0.0.0', 0))\n"
        "def test_loopback():\n"
        "    kept.close()\n"
        "    global loop\n"
        "    loop = socket.create_server(('127.0.0.1', 0))\n"
    )
    with netns.isolated(1, tmp_path / "forward.log") as box:
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.support.netns",
            "-p",
            "no:cacheprovider",
        ]
        done = subprocess.run(
            box.argv([*argv, str(tmp_path / "test_exposed.py")]),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
            check=False,
        )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 failed, 1 passed" in out, out
    assert "test_exposed.py::test_any: the suite listens beyond loopback" in out, out
    assert "on 0.0.0.0:" in out, out

"""Network namespaces for test servers that can only bind 0.0.0.0, and a listener audit.

Orthanc, dcmqrscp and storescp have no bind address: started as they are, they listen on
every interface of the machine. :func:`isolated` gives each one a fresh namespace
``exposcan-<pid>-<n>`` that holds only ``lo`` (``ip netns add``), started with ``ip netns
exec``, and makes its ports reachable from the test process on 127.0.0.1 by a forwarder
(``tests/support/netns_forward.py``) whose listeners are created here, in the root namespace, on
free ports, and whose upstream sockets are created inside the namespace on the same port
numbers (so a server that names its own port, as Orthanc's ``/system`` does, names the port
a test connects to). No nftables rule and no other interface is involved.

Cleanup holds on every path: the context manager stops the forwarder and deletes the
namespace; an ``atexit`` handler deletes what an interrupted run left; the forwarder kills
the processes of its namespace when the test process dies without stopping it; and each run
first deletes stale ``exposcan-<pid>-*`` namespaces whose creating pid is gone.

Without ``ip`` or the privilege to create a namespace, a test that needs one fails when
``CI`` is set (CI runs as root) and is skipped otherwise; it never falls back to the root
namespace.

:func:`exposed_listeners` lists TCP listeners of the root namespace on a non-loopback
address that belong to this process or its descendants; :func:`pytest_runtest_call` runs it
after every test body where this module is a plugin (tests/conftest.py ``pytest_plugins``).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

PREFIX = "exposcan"
RUN_DIR = Path("/run/netns")  # where ``ip netns add`` mounts a namespace (iproute2)
FORWARDER = Path(__file__).with_name("netns_forward.py")
COMMAND_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
LISTEN_BACKLOG = 128
TCP_LISTEN = "0A"  # st of a listening socket in /proc/net/tcp (include/net/tcp_states.h)

_counter = itertools.count(1)
_live: dict[str, Namespace] = {}
_swept = False


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """No namespace: fail in CI, skip elsewhere; never run the server unconfined."""
    message = f"network namespace unavailable ({reason}); the peer tests need root and iproute2"
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _ip() -> str:
    path = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if Path(p).exists()), ""
    )
    if not path:
        unavailable("ip missing: apt-get install iproute2")
    return path


def _ip_run(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_ip(), *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        unavailable(f"ip {' '.join(args)} timed out")


def _net_inode(path: str | Path) -> int | None:
    """The inode that names a network namespace (``/proc/PID/ns/net`` or its bind mount)."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- namespaces


@dataclass
class Namespace:
    """A network namespace made by this process, holding only ``lo`` (up)."""

    name: str
    inode: int = 0

    @property
    def path(self) -> Path:
        return RUN_DIR / self.name

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace (``ip netns exec`` then execs it: same pid)."""
        return [_ip(), "netns", "exec", self.name, *argv]

    def pids(self) -> list[int]:
        """Processes whose network namespace this is."""
        return _pids_in(self.inode) if self.inode else []

    def delete(self) -> None:
        """Kill what still runs inside (a backstop: servers are stopped first), then remove."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _ip_run("netns", "delete", self.name)
        _live.pop(self.name, None)


def _pids_in(inode: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _net_inode(f"/proc/{entry}/ns/net") == inode:
            pids.append(int(entry))
    return pids


def sweep_stale() -> list[str]:
    """Delete ``exposcan-<pid>-<n>`` namespaces (and what runs in them) whose pid is gone."""
    removed = []
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(RUN_DIR)):
            match = re.fullmatch(rf"{PREFIX}-(\d+)-\d+", name)
            if match is None or _alive(int(match.group(1))):
                continue
            Namespace(name, _net_inode(RUN_DIR / name) or 0).delete()
            removed.append(name)
    return removed


def _delete_all() -> None:
    for namespace in list(_live.values()):
        with contextlib.suppress(Exception):
            namespace.delete()


def create() -> Namespace:
    """A fresh namespace with only ``lo``, up; deleted at exit if the caller does not."""
    global _swept
    if os.geteuid() != 0:
        unavailable("not root")
    if not _swept:
        _swept = True
        sweep_stale()
        atexit.register(_delete_all)
    name = f"{PREFIX}-{os.getpid()}-{next(_counter)}"
    added = _ip_run("netns", "add", name)
    if added.returncode != 0:
        unavailable(f"ip netns add {name}: {added.stderr.strip()}")
    namespace = Namespace(name, _net_inode(RUN_DIR / name) or 0)
    _live[name] = namespace
    up = _ip_run("-n", name, "link", "set", "lo", "up")
    links = _ip_run("-n", name, "-o", "link", "show")
    if up.returncode != 0 or not namespace.inode:
        namespace.delete()
        unavailable(f"lo up in {name}: {up.stderr.strip()}")
    # Only lo: nothing in the namespace can reach beyond it.
    names = re.findall(r"^\d+:\s*([^:@\s]+)", links.stdout, re.M)
    if names != ["lo"]:
        namespace.delete()
        pytest.fail(f"{name} holds {names}, expected only lo")
    return namespace


# --------------------------------------------------------------------------- forwarding


@dataclass
class Isolated:
    """A namespace and the forwarder that exposes ``ports`` on 127.0.0.1 of the root one."""

    namespace: Namespace
    ports: list[int]
    forwarder: subprocess.Popen[bytes]
    control: int
    log: Path
    closed: bool = field(default=False)

    def argv(self, argv: list[str]) -> list[str]:
        return self.namespace.argv(argv)

    def listening(self, port: int) -> bool:
        """Does anything listen on ``port`` inside the namespace? Read from the tables of
        the forwarder, which is in it (``/proc/PID/net`` is that process's namespace)."""
        if self.forwarder.poll() is not None:
            tail = self.log.read_text("utf-8", "replace")[-2000:] if self.log.exists() else ""
            pytest.fail(f"netns forwarder exited ({self.forwarder.returncode}):\n{tail}")
        return port in _listening_ports(Path(f"/proc/{self.forwarder.pid}/net"))

    def orphan(self) -> None:
        """Close the control pipe without a stop, as the death of the test process does."""
        with contextlib.suppress(OSError):
            os.close(self.control)
        self.control = -1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            os.write(self.control, b"q")  # a normal stop: the forwarder kills nothing
        with contextlib.suppress(OSError):
            os.close(self.control)
        try:
            self.forwarder.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.forwarder.pid, signal.SIGKILL)
            self.forwarder.wait(timeout=STOP_TIMEOUT_S)
        if self.forwarder.stdout is not None:
            self.forwarder.stdout.close()
        self.namespace.delete()


def _listening_ports(net: Path) -> set[int]:
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (net / table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 3 and fields[3] == TCP_LISTEN:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _bind_loopback(count: int) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _await_ready(proc: subprocess.Popen[bytes], log: Path) -> None:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if selector.select(timeout=READY_TIMEOUT_S) and proc.stdout.readline() == b"ready\n":
            return
    tail = log.read_text("utf-8", "replace")[-2000:] if log.exists() else ""
    pytest.fail(f"netns forwarder not ready (exit {proc.poll()}):\n{tail}")


@contextlib.contextmanager
def isolated(n_ports: int, log: Path) -> Iterator[Isolated]:
    """A fresh namespace, and ``n_ports`` ports forwarded from 127.0.0.1 into it.

    Yields an :class:`Isolated`: start the server with ``box.argv([...])`` on ``box.ports``
    (free inside the namespace, which is empty) and poll ``box.listening(port)``.
    """
    namespace = create()
    try:
        listeners = _bind_loopback(n_ports)
    except BaseException:
        namespace.delete()
        raise
    ports = [int(s.getsockname()[1]) for s in listeners]
    read_end, control = os.pipe()
    fds = (read_end, *(s.fileno() for s in listeners))
    specs = [f"{s.fileno()}:{port}" for s, port in zip(listeners, ports, strict=True)]
    try:
        with log.open("ab") as log_file:
            forwarder = subprocess.Popen(
                namespace.argv([sys.executable, "-I", str(FORWARDER), str(read_end), *specs]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                pass_fds=fds,
                start_new_session=True,
            )
    except BaseException:
        os.close(control)
        namespace.delete()
        raise
    finally:
        os.close(read_end)
        for sock in listeners:
            sock.close()  # the forwarder holds them now
    box = Isolated(namespace, ports, forwarder, control, log)
    try:
        _await_ready(forwarder, log)
        if _net_inode(f"/proc/{forwarder.pid}/ns/net") != namespace.inode:
            pytest.fail(f"netns forwarder is not in {namespace.name}")
        yield box
    finally:
        box.close()


# --------------------------------------------------------------------------- audit


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp{,6}: 32-bit words printed in host byte order."""
    raw = b"".join(
        int(hex_address[i : i + 8], 16).to_bytes(4, sys.byteorder)
        for i in range(0, len(hex_address), 8)
    )
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _table_listeners(net: Path) -> dict[int, str]:
    """Inode -> ``address:port`` of every TCP listener in ``/proc/PID/net/tcp{,6}``: any
    process's namespace, but slow (the kernel prints every socket, TIME_WAIT included)."""
    found = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (net / table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10 or fields[3] != TCP_LISTEN:
                    continue
                hex_address, hex_port = fields[1].rsplit(":", 1)
                found[int(fields[9])] = f"{_address(hex_address)}:{int(hex_port, 16)}"
    return found


# sock_diag (linux/sock_diag.h, linux/inet_diag.h): the kernel dumps listeners only.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
#: inet_diag_req_v2: family, protocol, ext, pad, states, then a zero inet_diag_sockid (48)
INET_DIAG_REQ = struct.Struct("=BBBBI48x")
TCP_LISTEN_STATE = 10  # TCP_LISTEN in include/net/tcp_states.h


def _netlink_listeners() -> dict[int, str]:
    """The same map for this process's namespace, from one sock_diag dump per family."""
    found = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(COMMAND_TIMEOUT_S)
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
            request = INET_DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN_STATE)
            flags = NLM_F_REQUEST | NLM_F_DUMP
            size = NLMSG_HEADER.size + len(request)
            nl.send(NLMSG_HEADER.pack(size, SOCK_DIAG_BY_FAMILY, flags, seq, 0) + request)
            done = False
            while not done:
                data, offset = nl.recv(1 << 16), 0
                while offset + NLMSG_HEADER.size <= len(data):
                    length, kind, _, _, _ = NLMSG_HEADER.unpack_from(data, offset)
                    if kind == NLMSG_DONE:
                        done = True
                        break
                    if kind == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", data, offset + 16)
                        raise OSError(-code, "sock_diag dump failed")
                    # inet_diag_msg: family, state, timer, retrans; sockid (sport and dport
                    # big-endian, src[16], dst[16], if, cookie[2]); expires, rqueue,
                    # wqueue, uid, inode at byte 68.
                    body = offset + NLMSG_HEADER.size
                    (msg_family,) = struct.unpack_from("=B", data, body)
                    (port,) = struct.unpack_from(">H", data, body + 4)
                    raw = data[body + 8 : body + (12 if msg_family == socket.AF_INET else 24)]
                    (inode,) = struct.unpack_from("=I", data, body + 68)
                    found[inode] = f"{socket.inet_ntop(msg_family, raw)}:{port}"
                    offset += (length + 3) & ~3
    return found


def _descendants(proc: Path, root: int) -> set[int]:
    """``root`` and every process below it, from ``/proc/PID/task/TID/children``."""
    seen, queue = set(), [root]
    while queue:
        pid = queue.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            for task in (proc / str(pid) / "task").iterdir():
                with contextlib.suppress(OSError):
                    queue.extend(int(c) for c in (task / "children").read_text().split())
    return seen


def exposed_listeners(root: int | None = None, *, proc: Path = Path("/proc")) -> list[str]:
    """TCP listeners on a non-loopback address in the namespace of ``root`` (default: this
    process, whose namespace is read by sock_diag) that belong to ``root`` or a descendant,
    as ``name (pid N) on address:port``."""
    if root is None and proc == Path("/proc"):
        root, listeners = os.getpid(), _netlink_listeners()
    else:
        root = os.getpid() if root is None else root
        listeners = _table_listeners(proc / str(root) / "net")
    exposed = {
        inode: where
        for inode, where in listeners.items()
        if not _is_loopback(where.rsplit(":", 1)[0])
    }
    if not exposed:
        return []
    found = set()
    for pid in _descendants(proc, root):
        with contextlib.suppress(OSError):
            for fd in (proc / str(pid) / "fd").iterdir():
                with contextlib.suppress(OSError):
                    match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
                    if match and int(match.group(1)) in exposed:
                        comm = (proc / str(pid) / "comm").read_text().strip()
                        found.add(f"{comm} (pid {pid}) on {exposed[int(match.group(1))]}")
    return sorted(found)


def assert_no_exposed_listeners(when: str) -> None:
    found = exposed_listeners()
    if found:
        pytest.fail(f"{when}: the suite listens beyond loopback in the root namespace: {found}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After each test body (its servers still up): nothing the suite started listens on a
    non-loopback address of the root namespace. Active where this module is a plugin."""
    result = yield
    assert_no_exposed_listeners(item.nodeid)
    return result

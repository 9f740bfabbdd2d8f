"""A TCP forwarder from listeners of the root network namespace into a peer's namespace.

Run by ``tests/support/netns.py`` as ``ip netns exec NAME python netns_forward.py CONTROL_FD
LISTEN_FD:PORT ...``: each LISTEN_FD is a listening socket on 127.0.0.1 that the parent
created in the root namespace (a socket's namespace is fixed when it is created, so it keeps
accepting there), and every upstream socket this process creates is in the peer's namespace,
connected to 127.0.0.1:PORT there. Standard library only: it starts in a few milliseconds.

Faithful enough for a scanner (RFC 9293 3.5, 3.6): bytes both ways with at most one read
(64 KiB) held per direction (the next read waits until it is written, so backpressure stays
end to end); a FIN read on one side is a FIN (``shutdown(SHUT_WR)``) sent on the other; a
reset seen on one side is a reset sent on the other (``SO_LINGER`` 0, then close); an
upstream refusal resets the accepted downstream connection. ``TCP_NODELAY`` on both sides:
no Nagle delay is added to the peer's small PDUs.

CONTROL_FD is the read end of a pipe the parent holds: ``q`` then EOF is a normal stop; EOF
alone means the parent died, and the forwarder first kills every other process in its
namespace (the servers the parent started there) so nothing outlives the test run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import socket
import struct
import sys

CHUNK = 65536
RESET = struct.pack("ii", 1, 0)  # struct linger {l_onoff=1, l_linger=0}: close() sends RST


class Half:
    """One direction of a connection: bytes read from ``src``, not yet written to ``dst``."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.pending = b""
        self.eof = False  # FIN read from src and passed on to dst


class Link:
    """An accepted downstream connection and its upstream one."""

    def __init__(self, down: socket.socket, up: socket.socket) -> None:
        self.down, self.up = down, up
        self.connected = False
        self.halves = (Half(down, up), Half(up, down))
        self.closed = False


class Forwarder:
    def __init__(self, control: int, listeners: dict[socket.socket, int]) -> None:
        self.selector = selectors.DefaultSelector()
        self.control = control
        self.listeners = listeners
        self.links: dict[socket.socket, Link] = {}
        self.registered: dict[socket.socket, int] = {}
        self.selector.register(control, selectors.EVENT_READ)
        for sock in listeners:
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)

    # ------------------------------------------------------------------ main loop

    def run(self) -> bool:
        """Forward until the control pipe closes; True if the parent asked to stop."""
        while True:
            for key, mask in self.selector.select():
                obj = key.fileobj
                if obj == self.control:
                    data = os.read(self.control, 64)
                    if data.startswith(b"q"):
                        return True
                    if not data:
                        return False
                elif isinstance(obj, socket.socket) and obj in self.listeners:
                    self.accept(obj)
                elif isinstance(obj, socket.socket):
                    link = self.links.get(obj)
                    if link is not None and not link.closed:
                        self.step(link, obj, mask)

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                down, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # ECONNABORTED and the like: the client is already gone
            up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            for sock in (down, up):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = Link(down, up)
            self.links[down] = self.links[up] = link
            code = up.connect_ex(("127.0.0.1", self.listeners[listener]))
            if code == 0:
                link.connected = True
            elif code != errno.EINPROGRESS:
                self.finish(link, reset=(down,))
                continue
            self.update(link)

    def step(self, link: Link, sock: socket.socket, mask: int) -> None:
        if not link.connected:
            code = link.up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:  # refused (or unreachable): the client sees a reset
                self.finish(link, reset=(link.down,))
                return
            link.connected = True
        for half in link.halves:
            writable = half.dst is sock and mask & selectors.EVENT_WRITE
            if half.pending and writable and not self.write(link, half):
                return
            readable = half.src is sock and mask & selectors.EVENT_READ
            if readable and not half.pending and not half.eof and not self.read(link, half):
                return
        if all(h.eof and not h.pending for h in link.halves):
            self.finish(link)
        else:
            self.update(link)

    def read(self, link: Link, half: Half) -> bool:
        try:
            data = half.src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:  # a reset (or any error) from src: reset dst
            self.finish(link, reset=(half.dst,))
            return False
        if not data:
            half.eof = True
            try:
                half.dst.shutdown(socket.SHUT_WR)
            except OSError:  # dst already reset
                self.finish(link, reset=(half.src,))
                return False
            return True
        half.pending = data
        return self.write(link, half)

    def write(self, link: Link, half: Half) -> bool:
        try:
            sent = half.dst.send(half.pending)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:  # dst reset (EPIPE, ECONNRESET): reset src
            self.finish(link, reset=(half.src,))
            return False
        half.pending = half.pending[sent:]
        return True

    # ------------------------------------------------------------------ bookkeeping

    def update(self, link: Link) -> None:
        wanted: dict[socket.socket, int] = {link.down: 0, link.up: 0}
        if not link.connected:
            wanted[link.up] = selectors.EVENT_WRITE
        else:
            for half in link.halves:
                if half.pending:
                    wanted[half.dst] |= selectors.EVENT_WRITE
                elif not half.eof:
                    wanted[half.src] |= selectors.EVENT_READ
        for sock, events in wanted.items():
            now = self.registered.get(sock, 0)
            if events == now:
                continue
            if not events:
                self.selector.unregister(sock)
                del self.registered[sock]
            elif not now:
                self.selector.register(sock, events)
                self.registered[sock] = events
            else:
                self.selector.modify(sock, events)
                self.registered[sock] = events

    def finish(self, link: Link, reset: tuple[socket.socket, ...] = ()) -> None:
        link.closed = True
        for sock in (link.down, link.up):
            if self.registered.pop(sock, 0):
                self.selector.unregister(sock)
            self.links.pop(sock, None)
            if sock in reset:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
            sock.close()


def kill_namespace_peers() -> None:
    """SIGKILL every other process whose network namespace is this one's."""
    own = os.readlink("/proc/self/ns/net")
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/net") == own:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            continue


def main(argv: list[str]) -> int:
    control = int(argv[1])
    listeners = {}
    for spec in argv[2:]:
        fd, port = spec.split(":")
        listeners[socket.socket(fileno=int(fd))] = int(port)
    forwarder = Forwarder(control, listeners)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if not forwarder.run():
        kill_namespace_peers()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

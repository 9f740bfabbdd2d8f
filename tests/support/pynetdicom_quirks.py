"""Work-arounds for pynetdicom quirks that show on the *peer* side of a test.

pynetdicom 3.0.4 ``AssociationSocket._shutdown_socket`` calls ``shutdown()`` then
``close()`` in one ``try``: when the client has already reset the connection (exposcan
aborting a C-FIND SCP that ignores C-CANCEL, with responses still unread),
``shutdown()`` raises ENOTCONN, ``close()`` is skipped, and the socket is dropped
unclosed. Under ``filterwarnings = error`` its ResourceWarning fails whichever test is
running when it is collected. Patching the peer keeps that check meaningful for
exposcan's own sockets.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import pytest
from pynetdicom.transport import AssociationSocket


def _shutdown_then_close(self: Any) -> None:
    sock = self.socket
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def close_reset_peer_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """For this test, pynetdicom peers close their socket even after a reset."""
    monkeypatch.setattr(AssociationSocket, "_shutdown_socket", _shutdown_then_close)

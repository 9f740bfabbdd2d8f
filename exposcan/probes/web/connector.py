"""The web probe's TCP connects through the scan's connect policy (:mod:`exposcan.connecting`).

A DICOM connect asks the endpoint's :class:`~exposcan.connecting.ConnectPolicy` how long
it may wait, tells it what came back and waits for its word before the first byte
(:func:`exposcan.net.transport.open_connection`); :class:`PolicyConnector` does the same
for every connection aiohttp opens, so a dead web endpoint costs the adaptive timeout,
not the configured one, its answers (SYN-ACK or RST) feed the same round-trip estimates
and the same record of which hosts answered, and an answered first contact takes its
load slot and global-rate grant before its first byte (the TLS ClientHello included).

It is aiohttp's own :class:`~aiohttp.TCPConnector` (its ``limit`` and ``limit_per_host``,
resolution, SNI and certificate handling, error types) except for the one step that
turns an address into a connected socket, ``_wrap_create_connection``: the TCP connect
is done here, on a socket of the address's family, and the socket handed to aiohttp's
``_wrap_existing_connection``, which runs the TLS handshake (``server_hostname`` as
aiohttp chose it) under the configured ``sock_connect`` and maps its errors as aiohttp
does. Both are aiohttp internals (stable since 3.10: ``addr_infos`` is passed by
keyword), so the override only acts on the call it recognises: one address and a
``sock_connect`` timeout, under a policy. Any other call (no policy: a probe run outside
the engine; a name resolving to several addresses: aiohttp's happy eyeballs; an aiohttp
that passes something else) takes aiohttp's own path unchanged, as a name does in
:func:`~exposcan.net.transport.open_connection`. tests/network/test_web_adaptive.py
fails if the override stops being called.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from exposcan.connecting import ConnectPolicy, connect_policy

__all__ = ["PolicyConnector"]


class PolicyConnector(aiohttp.TCPConnector):
    """A :class:`aiohttp.TCPConnector` whose TCP connects go through the running task's
    :data:`~exposcan.connecting.connect_policy`, when it has one."""

    async def _wrap_create_connection(
        self, *args: Any, **kwargs: Any
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        policy = connect_policy.get()
        addr_infos = kwargs.get("addr_infos")
        timeout = kwargs.get("timeout")
        ceiling = getattr(timeout, "sock_connect", None)
        if (
            policy is None
            or not isinstance(addr_infos, list)
            or len(addr_infos) != 1
            or not isinstance(ceiling, int | float)
            or "req" not in kwargs
        ):
            return await super()._wrap_create_connection(*args, **kwargs)
        rest = {k: v for k, v in kwargs.items() if k != "addr_infos"}
        return await self._through(policy, addr_infos[0], float(ceiling), args, rest)

    async def _through(
        self,
        policy: ConnectPolicy,
        addr_info: Any,
        ceiling: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        family, kind, proto, _, address = addr_info
        host = str(address[0])
        key = kwargs["req"].connection_key
        client_error: type[Exception] = kwargs.get("client_error", aiohttp.ClientConnectorError)
        loop = asyncio.get_running_loop()
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            started = loop.time()
            try:
                async with asyncio.timeout(policy.connect_timeout(host, ceiling)):
                    await loop.sock_connect(sock, address)
            except TimeoutError:
                raise  # aiohttp makes it a ConnectionTimeoutError
            except ConnectionRefusedError as exc:
                policy.answered(host, loop.time() - started)  # a RST is an answer
                raise client_error(key, exc) from exc
            except OSError as exc:
                raise client_error(key, exc) from exc
            policy.answered(host, loop.time() - started)
            await policy.established(host)
            transport, protocol = await self._wrap_existing_connection(*args, sock=sock, **kwargs)
        except BaseException:
            sock.close()  # the transport never took it (closing twice is harmless)
            raise
        return transport, protocol

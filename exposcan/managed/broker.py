"""Broker URLs, and the Redis Streams broker shards travel on.

``memory://``: taskiq's InMemoryBroker, shards run in the submitting process (no server).
``redis://[:password@]host:port/db`` (or ``rediss://``): a Redis stream and consumer
group (taskiq-redis' :class:`RedisStreamBroker`). A URL's password never reaches a log,
a message or a report: everything that names a broker names :func:`redact`'s form.

:class:`~exposcan.managed.redelivery.ShardStreamBroker` changes two things of its parent,
both for redelivery:

* it looks for messages a dead worker left unacknowledged (``XAUTOCLAIM`` past
  ``idle_timeout``) on every turn, not only after new messages came (its parent's loop
  skips that step when ``XREADGROUP`` returned nothing, so a shard held by a killed worker
  waited for the next scan's messages);
* while a shard runs, its worker re-claims it for itself every quarter of ``idle_timeout``
  (``XCLAIM ... JUSTID`` resets the idle time), so a long shard of a live worker is not
  handed to a second worker; a dead worker stops re-claiming and its shards go on.

Each exposcan version has a stream of its own (:func:`queue_for`): a worker reads only its
version's, so a worker of another version on the same broker never takes a shard it would
refuse; it leaves the shard to a worker of the right version, and says so in its log
(:mod:`exposcan.managed.worker`). A submitter with no worker of its version fails after its
bounded wait, naming the versions that are there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from exposcan._version import __version__
from exposcan.errors import UserError

#: the taskiq name of the shard task
TASK = "exposcan.shard"
#: the streams jobs travel on, one per exposcan version
QUEUES = "exposcan:shards:"


def queue_for(version: str = __version__) -> str:
    """The stream of ``version``'s shards (version-scoped: see the module's text)."""
    return QUEUES + version


#: this version's stream
QUEUE = queue_for()
SCHEMES = ("memory", "redis", "rediss")


class BrokerError(UserError):
    """A broker URL that does not parse or cannot be reached (one line, no password)."""


def redact(url: str) -> str:
    """``url`` without its password (``redis://:***@host:6379/0``)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return "<broker URL that does not parse>"
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{userinfo}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_url(url: str) -> str:
    """The URL's scheme, or :class:`BrokerError`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise BrokerError(f"broker URL {redact(url)} does not parse") from None
    if parts.scheme not in SCHEMES:
        raise BrokerError(
            f"broker URL {redact(url)}: the scheme must be one of "
            f"{', '.join(s + '://' for s in SCHEMES)}"
        )
    if parts.scheme != "memory" and not parts.hostname:
        raise BrokerError(f"broker URL {redact(url)} names no host")
    return parts.scheme


#: Redis connections one process may have open at once; more wait for a free one
MAX_CONNECTIONS = 256


async def open_redis(url: str) -> Any:
    """A connected ``redis.asyncio.Redis`` for ``url``, or :class:`BrokerError`.

    Its pool blocks when all :data:`MAX_CONNECTIONS` are in use: redis-py's default pool
    (100) raises ``MaxConnectionsError`` instead, which a worker running many shards at
    once, every endpoint waiting on a moving window, met (benchmarks/scaleout.py)."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.exceptions import RedisError

    try:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=60,
            socket_connect_timeout=5,
            socket_timeout=30,
        )
        client = Redis.from_pool(pool)
    except ValueError:
        raise BrokerError(f"broker URL {redact(url)} does not parse") from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise BrokerError(f"cannot reach broker {redact(url)}: {_reason(exc)}") from None
    return client


async def reach(url: str) -> None:
    """:class:`BrokerError` unless ``url`` is ``memory://`` or a Redis that answers (its
    password accepted): what a command checks before it writes anything."""
    if check_url(url) != "memory":
        await (await open_redis(url)).aclose()


def quiet_libraries() -> None:
    """taskiq logs through the standard library: silent, as exposcan is, until the caller
    configures logging (without a handler, Python would print its warnings to stderr)."""
    import logging

    for name in ("taskiq", "taskiq_redis"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def stream_broker(url: str, *, idle_timeout_s: float, version: str = __version__) -> Any:
    """The broker ``version``'s shards travel on (a :class:`ShardStreamBroker`)."""
    quiet_libraries()
    from exposcan.managed.redelivery import ShardStreamBroker

    return ShardStreamBroker(url, queue=queue_for(version), idle_timeout_s=idle_timeout_s)


def raise_lost_cancel() -> None:
    """Raise the ``CancelledError`` this task was sent and never got.

    On Python 3.11, ``asyncio.wait_for`` returns its result and drops a ``cancel()`` that
    arrives just as the result does (CPython gh-86296, fixed in 3.12), and redis-py sends
    every command through ``wait_for`` when its pool has a ``socket_timeout`` (ours has:
    :func:`open_redis`). A loop that calls Redis and sleeps again then goes on after it
    was cancelled, and whatever awaits its end waits for ever: a worker's host-lease
    renewal did, so its endpoint never ended and the submitter waited for one endpoint
    (benchmarks/scaleout.py, 1,000 hosts). Every loop that talks to Redis calls this
    after each call; ``Task.cancelling()`` still counts the lost request."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def beat(every_s: float, call: Callable[[], Awaitable[None]]) -> None:
    """Call ``call`` every ``every_s`` seconds until cancelled; a failed call is retried
    at the next beat (Redis restarting)."""
    while True:
        with contextlib.suppress(Exception):
            await call()
        raise_lost_cancel()
        await asyncio.sleep(every_s)


__all__ = [
    "QUEUE",
    "QUEUES",
    "TASK",
    "BrokerError",
    "beat",
    "check_url",
    "open_redis",
    "queue_for",
    "raise_lost_cancel",
    "redact",
    "stream_broker",
]

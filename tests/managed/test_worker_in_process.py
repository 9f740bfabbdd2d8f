"""A worker run inside the caller's loop (``await exposcan.managed.worker.serve(URL)``)
ends its running shards when it is cancelled, as the CLI's does: taskiq's receiver leaves
its running tasks alone, so without this the shard's association stayed open and a
put-back waiting for Redis could come back later as a second copy of the shard."""

from __future__ import annotations

import asyncio
import contextlib
import time

import exposcan
from exposcan.managed import distribute
from exposcan.managed.worker import serve
from exposcan.options import ScanOptions, Timeouts

HOST = "127.0.0.31"


async def test_cancelling_serve_ends_its_running_shard(redis_server, listener_factory, write_scope):
    async def silent(reader, writer, listener):  # never answers: the probe waits
        while data := await reader.read(4096):
            listener.received.extend(data)

    listener = await listener_factory((HOST,), behaviour=silent)
    scope = write_scope([HOST], [listener.port])
    ready = asyncio.Event()
    worker = asyncio.create_task(serve(redis_server.url, ready=ready))
    await asyncio.wait_for(ready.wait(), 20)
    options = ScanOptions(timeouts=Timeouts(connect=1, read=20, release=1, endpoint=25))
    plan = distribute(await exposcan.prepare(scope, options=options), redis_server.url)
    results = plan.runner().run()
    pending = asyncio.ensure_future(anext(results))
    try:
        deadline = time.monotonic() + 10
        while not listener.received and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert listener.received, "the worker never sent its association request"
        worker.cancel()
        done, _ = await asyncio.wait({worker}, timeout=5)
        assert worker in done, "serve() did not end"
        await asyncio.sleep(0.3)
        # its shard ended with it: the association aborted (PS3.8 9.3.8), not left open
        assert sum(listener.open_now.values()) == 0
        assert b"\x07\x00\x00\x00\x00\x04" in bytes(listener.received)[1:]
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pending
        await results.aclose()

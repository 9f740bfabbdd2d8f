"""The echo-line conversation and the object the registry loads (``PROBE``).

One connection per endpoint, behind the engine's permit: send a fixed line, read at most
one line back within the read timeout, close. Every network condition is a status; the
probe never raises for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Sequence

from exposcan.options import ScanOptions
from exposcan.probe import Endpoint, HostEvidence, Permit
from exposcan.results import Verdict
from exposcan.vocabulary import Status
from tests.support.toyprobe.observation import EchoObservation, verdict

LINE = b"exposcan-toy\n"  # 13 bytes, no peer value


class EchoRun:
    def __init__(self, options: ScanOptions) -> None:
        self.timeouts = options.timeouts

    async def observe(
        self, endpoint: Endpoint, permit: Permit, evidence: Sequence[HostEvidence] = ()
    ) -> EchoObservation:
        started = time.monotonic()
        await permit()
        status, answer = await self._converse(endpoint)
        return EchoObservation(
            protocol=endpoint.protocol,
            status=status,
            repeated=answer == LINE,
            answered_bytes=len(answer),
            duration_s=time.monotonic() - started,
        )

    async def _converse(self, endpoint: Endpoint) -> tuple[Status, bytes]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(endpoint.host, endpoint.port), self.timeouts.connect
            )
        except ConnectionRefusedError:
            return Status.CONNECTION_REFUSED, b""
        except TimeoutError:
            return Status.CONNECTION_TIMEOUT, b""
        except OSError:
            return Status.ERROR, b""
        try:
            writer.write(LINE)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readline(), self.timeouts.read)
            return Status.SUCCESS, answer[: len(LINE) + 1]
        except TimeoutError:
            return Status.IO_TIMEOUT, b""
        except (OSError, ValueError):  # reset, or a line longer than the stream's limit
            return Status.CONNECTION_CLOSED, b""
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class EchoProbe:
    @contextlib.asynccontextmanager
    async def start(self, options: ScanOptions) -> AsyncIterator[EchoRun]:
        yield EchoRun(options)

    def verdict(self, observation: EchoObservation, evidence: Sequence[HostEvidence]) -> Verdict:
        return verdict(observation)

    def attempts(self, observation: EchoObservation) -> int:
        return 0 if observation.status is Status.CONNECTION_REFUSED else 1

    def learn(self, observation: EchoObservation) -> Iterable[HostEvidence]:
        return ()


PROBE = EchoProbe()

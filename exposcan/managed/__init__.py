"""Managed scanning: one scan split into shards run by workers on a taskiq broker.

Nothing here is imported unless a broker is asked for (``scan(..., broker=URL)``,
``exposcan scan --broker``, ``exposcan worker``): taskiq and redis stay out of a local
scan's start-up.

The pieces:

* :mod:`~exposcan.managed.wire`: a shard job as JSON (never pickle), and the plan a
  worker rebuilds from it, scope and authorisation checked again before its first packet;
* :mod:`~exposcan.managed.channel`: where workers put results and the submitter reads
  them (a Redis stream per run, or memory in one process);
* :mod:`~exposcan.managed.shard`: what a worker does with one shard;
* :mod:`~exposcan.managed.submit`: the submitter's side, a results source
  :meth:`exposcan.scan.ScanPlan.run` writes the one report from, as from its own engine;
* :mod:`~exposcan.managed.broker`: broker URLs (``memory://``, ``redis://``), the
  stream broker that redelivers what a dead worker held, and the worker loop;
* :mod:`~exposcan.managed.gate`: the politeness limits kept in Redis for every worker
  together (host leases, shared moving windows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exposcan.scan import ScanPlan

__all__ = ["distribute"]


def distribute(plan: ScanPlan, broker: str, **options: Any) -> ScanPlan:
    """The same plan, run by the workers of ``broker`` instead of this process's engine
    (``memory://``: shards run in this process, through taskiq's InMemoryBroker)."""
    from exposcan.managed.submit import distribute as _distribute

    return _distribute(plan, broker, **options)

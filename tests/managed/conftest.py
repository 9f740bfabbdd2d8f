"""Fixtures of the managed-scanning tests: Redis, and exposcan workers as child processes."""

from __future__ import annotations

from tests.support.redis_server import redis_server
from tests.support.workers import workers

__all__ = ["redis_server", "workers"]

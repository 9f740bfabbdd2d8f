"""The CLI as a child process (``python -m exposcan``), with warnings as errors: ``run``
waits for it, ``run_cli`` awaits it so that peers keep running in the test's loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

#: Every report format, and the flags that keep a CLI scan of loopback peers quick.
FORMATS = ("jsonl", "json", "csv", "sarif", "html")
FAST = ("--rate", "1000", "--per-host-rate", "1000", "--timeout", "5")


def run(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None, prefix=("-m", "exposcan")
):
    return subprocess.run(
        [sys.executable, *prefix, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "error", **(env or {})},
        check=False,
    )


async def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exposcan",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8"), err.decode("utf-8")

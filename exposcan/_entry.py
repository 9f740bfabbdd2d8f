"""The console script and ``python -m exposcan``: signals answered from the first line.

The CLI installs its own SIGINT/SIGTERM handling (``exposcan.shutdown``) once
``exposcan.cli`` is imported, which takes a few hundred milliseconds (the codec,
aiohttp, the TLS library). A Ctrl-C in that window used to print a
KeyboardInterrupt traceback; nothing has been sent by then, so the process just
says so in one line and ends with the signal's conventional code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType


def _interrupted(signum: int, frame: FrameType | None) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"exposcan: interrupted by {signal.Signals(signum).name}\n".encode())
    os._exit(128 + signum)


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupted)
    from exposcan.cli import main as cli_main

    return cli_main()


def run() -> None:
    sys.exit(main())

"""``exposcan`` with the echo-line toy registered: the command line a third-party probe's
users run (its registration made before the CLI parses anything).

    python -m tests.support.toyprobe.cli scan --scope S --ports-for echo_ports=7 -o R.jsonl
"""

from __future__ import annotations

import sys

from exposcan.cli import main
from tests.support.toyprobe.registration import register_toy

if __name__ == "__main__":
    register_toy()
    sys.exit(main(sys.argv[1:]))

"""Run the atheris fuzz target for a few seconds: any crash fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TARGET = Path(__file__).parent.parent / "fuzz" / "fuzz_association.py"


def test_fuzz_target_runs_clean_for_a_bounded_time(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(TARGET), "-max_total_time=8", "-rss_limit_mb=1024", "-seed=1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # crash artefacts, if any, land here
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done" in proc.stderr

"""Run the atheris fuzz targets for a few seconds each: any crash fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parents[2] / "fuzz"


@pytest.mark.parametrize(
    ("target", "seconds"),
    [
        ("fuzz_association.py", 8),  # the sans-IO DICOM core
        ("fuzz_web.py", 5),  # the web probe's parsing path and its retrieval guard
    ],
)
def test_fuzz_target_runs_clean_for_a_bounded_time(tmp_path, target, seconds):
    proc = subprocess.run(
        [
            sys.executable,
            str(FUZZ / target),
            f"-max_total_time={seconds}",
            "-rss_limit_mb=1024",
            "-seed=1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # crash artefacts, if any, land here
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done" in proc.stderr

"""The verdicts are pure (issue 11, deliverable 2): the modules that turn an observation
into an exposure, findings and a fingerprint load neither the transport (``exposcan.net``)
nor aiohttp, so they can be imported, tested and reused where no socket may be opened."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = (
    "exposcan.classify",
    "exposcan.classify_web",
    "exposcan.tls_findings",
    "exposcan.findings",
    "exposcan.probes.aetitle_strategy",
    "exposcan.probes.dimse_observation",
    "exposcan.probes.web.observation",
    "exposcan.decoys",
    "exposcan.product_notes",
    "exposcan.dicom.elements",
)
#: What a pure module must not load, even indirectly.
IO = ("exposcan.net", "aiohttp", "exposcan.probes.web.session", "exposcan.probes.dimse_exchange")


@pytest.mark.parametrize("module", PURE)
def test_a_verdict_module_loads_no_io(module):
    code = (
        f"import sys, {module}\n"
        f"io = {IO!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(io)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"{module} loads {proc.stdout.strip()}"


def test_the_io_names_are_real_modules():
    # A misspelt name above would make the check vacuous.
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in IO)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "module", ["exposcan.report.read", "exposcan.report.resume", "exposcan.report.terminal"]
)
def test_reading_a_report_loads_no_engine_and_no_io(module):
    # Issue 11: report/resume.py imported the engine (for the resume key); converting,
    # diffing or resuming a report must not load the scanner.
    code = (
        f"import sys, {module}\n"
        f"io = {(*IO, 'exposcan.engine', 'exposcan.scan')!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(io)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"{module} loads {proc.stdout.strip()}"

"""The echo-line toy's one registration line (a shipped probe's is in
``exposcan/probes/registry.py``'s table). Importing this module registers nothing; calling
:func:`register_toy` does, for the whole process, so only the fresh interpreters of
:mod:`.trial` and :mod:`.cli` call it, never the test process."""

from __future__ import annotations

from exposcan.probes.registry import Registration, register
from tests.support import toyprobe

#: The port list the toy takes: the scope file's key, ``--ports-for echo_ports=LIST``,
#: ``ScanOptions(more_ports={"echo_ports": ...})`` and the report header's key.
PORTS = "echo_ports"


def register_toy() -> Registration:
    return register(
        Registration(
            "echo",
            ports=PORTS,
            planned="echo-line",
            found={"echo-line"},
            load="tests.support.toyprobe.probe:PROBE",
            findings=toyprobe.FINDINGS,
        )
    )

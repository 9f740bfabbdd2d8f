"""A toy probe, written as a new probe would be: one package plus one registration line.

``echo-line`` speaks a line protocol of its own (a TCP service that should repeat a
line sent to it). The package holds everything the probe brings:

- :mod:`.findings`: its catalogue entries (:class:`exposcan.rules.Table`);
- :mod:`.observation`: what one conversation showed, and the pure verdict;
- :mod:`.probe`: the conversation (asyncio streams, behind the engine's permits) and the
  object the registry loads (``PROBE``).

The one line, in ``exposcan/probes/registry.py`` for a shipped probe (a test runs it in
a fresh interpreter, :mod:`.trial`)::

    register(Registration("echo", ports="echo_ports", planned="echo-line",
                          found={"echo-line"}, load="tests.support.toyprobe.probe:PROBE",
                          findings=toyprobe.FINDINGS))

Nothing under ``exposcan/`` is edited for it: the protocol ``echo-line`` and the two
finding ids are known from the registration on.
"""

from __future__ import annotations

from tests.support.toyprobe.findings import FINDINGS

__all__ = ["FINDINGS"]

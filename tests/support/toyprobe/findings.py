"""The echo-line probe's catalogue entries: its findings are made from these only."""

from __future__ import annotations

from exposcan.rules import Table
from exposcan.vocabulary import Severity

_table = Table()

ECHO_LINE_REPEATS = _table.entry(
    "echo-line-repeats",
    Severity.MEDIUM,
    "The echo-line service repeats what a stranger sends",
    "Turn the echo-line service off, or answer only known peers.",
    ("RFC 862 (Echo Protocol), its line-oriented cousin",),
)
ECHO_LINE_SILENT = _table.entry(
    "echo-line-silent",
    Severity.INFO,
    "The echo-line service took a line and answered nothing",
)

FINDINGS = _table.rules()

"""exposcan: find DICOM and PACS services that answer strangers.

The public API is what a notebook uses::

    import exposcan
    report = await exposcan.scan("scope.toml")
    report.summary.exposure        # {'none': 12, 'protected': 3, 'echo': 1, ...}
    report = exposcan.read_report("scan.jsonl")   # a JSONL report, read back
    report.write("scan.html", format="html")      # in any report format
    frame = report.to_frame()                     # pandas, one row per endpoint
    exposcan.diff_reports(old_report, report)     # new, resolved, changed
    with exposcan.notebook.progress() as show:    # an opt-in progress display
        report = await exposcan.scan("scope.toml", on_progress=show)

Nothing here configures logging; the CLI does that for itself.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from exposcan._version import __version__

if TYPE_CHECKING:
    from exposcan import notebook
    from exposcan.accepted import AcceptedRiskError, AcceptedRisks, load_accepted
    from exposcan.diff import ReportDiff, diff_reports
    from exposcan.engine import Endpoint
    from exposcan.errors import (
        AuthorisationError,
        AuthorisationExpired,
        OptionError,
        OutOfScopeError,
        OutputError,
        PortListError,
        ReportError,
        ScopeError,
        UserError,
    )
    from exposcan.options import Limits, ScanOptions, Timeouts
    from exposcan.report.convert import write_report
    from exposcan.report.read import read_report
    from exposcan.results import EndpointResult, Finding, Fingerprint, Matches, TlsFacts
    from exposcan.scan import ScanPlan, prepare, scan, scan_iter
    from exposcan.scope import Scope, load_scope, parse_scope
    from exposcan.summary import Progress, ScanReport, Summary
    from exposcan.vocabulary import Exposure, Protocol, Severity, Status

#: Where each public name lives. Imported on first use (PEP 562): the console script
#: must answer Ctrl-C from its first instruction, and ``import exposcan`` costs no
#: engine, codec or TLS library until one is asked for.
_PUBLIC: dict[str, str] = {
    "AuthorisationError": "exposcan.errors",
    "AuthorisationExpired": "exposcan.errors",
    "OptionError": "exposcan.errors",
    "OutOfScopeError": "exposcan.errors",
    "OutputError": "exposcan.errors",
    "PortListError": "exposcan.errors",
    "ReportError": "exposcan.errors",
    "ScopeError": "exposcan.errors",
    "UserError": "exposcan.errors",
    "Endpoint": "exposcan.engine",
    "ReportDiff": "exposcan.diff",
    "diff_reports": "exposcan.diff",
    "AcceptedRisks": "exposcan.accepted",
    "AcceptedRiskError": "exposcan.accepted",
    "load_accepted": "exposcan.accepted",
    "write_report": "exposcan.report.convert",
    "Progress": "exposcan.summary",
    "Limits": "exposcan.options",
    "ScanOptions": "exposcan.options",
    "Timeouts": "exposcan.options",
    "read_report": "exposcan.report.read",
    "EndpointResult": "exposcan.results",
    "Finding": "exposcan.results",
    "Fingerprint": "exposcan.results",
    "Matches": "exposcan.results",
    "TlsFacts": "exposcan.results",
    "ScanPlan": "exposcan.scan",
    "ScanReport": "exposcan.summary",
    "prepare": "exposcan.scan",
    "scan": "exposcan.scan",
    "scan_iter": "exposcan.scan",
    "Scope": "exposcan.scope",
    "load_scope": "exposcan.scope",
    "parse_scope": "exposcan.scope",
    "Summary": "exposcan.summary",
    "Exposure": "exposcan.vocabulary",
    "Protocol": "exposcan.vocabulary",
    "Severity": "exposcan.vocabulary",
    "Status": "exposcan.vocabulary",
}
#: Public submodules, imported on first use as the names above are.
_SUBMODULES: frozenset[str] = frozenset({"notebook"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule ``exposcan.scan`` binds it on this package once it has
        # loaded, over the public coroutine of the same name; the name stays the function
        # (the submodule is still ``sys.modules["exposcan.scan"]``).
        if name == "scan" and isinstance(value, types.ModuleType):
            value = value.scan
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value: Any = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = value
        return value
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'exposcan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AcceptedRiskError",
    "AcceptedRisks",
    "AuthorisationError",
    "AuthorisationExpired",
    "Endpoint",
    "EndpointResult",
    "Exposure",
    "Finding",
    "Fingerprint",
    "Limits",
    "Matches",
    "OptionError",
    "OutOfScopeError",
    "OutputError",
    "PortListError",
    "Progress",
    "Protocol",
    "ReportDiff",
    "ReportError",
    "ScanOptions",
    "ScanPlan",
    "ScanReport",
    "Scope",
    "ScopeError",
    "Severity",
    "Status",
    "Summary",
    "Timeouts",
    "TlsFacts",
    "UserError",
    "__version__",
    "diff_reports",
    "load_accepted",
    "load_scope",
    "notebook",
    "parse_scope",
    "prepare",
    "read_report",
    "scan",
    "scan_iter",
    "write_report",
]

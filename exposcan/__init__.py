"""exposcan: find DICOM and PACS services that answer strangers.

The public API is what a notebook uses::

    import exposcan
    report = await exposcan.scan("scope.toml")
    report.summary.exposure        # {'none': 12, 'protected': 3, 'echo': 1, ...}

Nothing here configures logging; the CLI does that for itself.
"""

from exposcan._version import __version__
from exposcan.engine import Endpoint, Progress
from exposcan.errors import (
    AuthorisationError,
    AuthorisationExpired,
    OptionError,
    OutOfScopeError,
    OutputError,
    PortListError,
    ScopeError,
    UserError,
)
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.results import EndpointResult, Finding, Fingerprint, Matches, TlsFacts
from exposcan.scan import ScanPlan, ScanReport, prepare, scan, scan_iter
from exposcan.scope import Scope, load_scope, parse_scope
from exposcan.summary import Summary
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

__all__ = [
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
    "load_scope",
    "parse_scope",
    "prepare",
    "scan",
    "scan_iter",
]

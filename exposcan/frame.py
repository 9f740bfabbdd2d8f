"""``ScanReport.to_frame()``: a report as a pandas DataFrame, one row per endpoint.

pandas is an optional dependency (the ``pandas`` extra): it is imported only here, when
a frame is asked for, and its absence is one ImportError line that says how to install it.
The columns hold what the report holds: counts and non-identifying facts only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from exposcan.results import EndpointResult
    from exposcan.summary import ScanReport

__all__ = ["COLUMNS", "PANDAS_HINT", "endpoint_rows", "to_frame"]

PANDAS_HINT: Final = "ScanReport.to_frame() needs pandas: pip install 'exposcan[pandas]'"

#: The frame's columns, in order.
COLUMNS: Final = (
    "host",
    "port",
    "protocol",
    "status",
    "exposure",
    "severity",
    "ae_title",
    "product",
    "version",
    "findings",
    "matches",
    "probed_at",
    "duration_s",
    "site",
    "scan_id",
)


def _row(result: EndpointResult, site: str | None, scan_id: str | None) -> dict[str, Any]:
    fingerprint = result.fingerprint
    return {
        "host": result.host,
        "port": result.port,
        # plain str, not the StrEnum members: a frame's column compares and prints as text
        "protocol": str(result.protocol),
        "status": str(result.status),
        "exposure": str(result.exposure),
        "severity": str(result.severity),
        "ae_title": result.ae_title,
        "product": fingerprint.product if fingerprint is not None else None,
        "version": fingerprint.version if fingerprint is not None else None,
        "findings": [f.id for f in result.findings],
        "matches": result.matches.count if result.matches is not None else None,
        "probed_at": result.probed_at,
        "duration_s": result.duration_s,
        "site": site,
        "scan_id": scan_id,
    }


def endpoint_rows(report: ScanReport) -> list[dict[str, Any]]:
    """One dict per endpoint, keyed by :data:`COLUMNS` (what the frame is built from)."""
    site = report.header.get("site")
    scan_id = report.header.get("scan_id")
    return [
        _row(
            r,
            site if isinstance(site, str) else None,
            scan_id if isinstance(scan_id, str) else None,
        )
        for r in report.results
    ]


def to_frame(report: ScanReport) -> Any:
    """``report`` as a ``pandas.DataFrame`` (:data:`COLUMNS`; ``probed_at`` as UTC
    timestamps, ``matches`` a nullable integer)."""
    try:
        # by name: pandas ships no type stubs, and the frame is Any to its callers anyway
        pd: Any = importlib.import_module("pandas")
    except ImportError:
        raise ImportError(PANDAS_HINT) from None
    frame = pd.DataFrame(endpoint_rows(report), columns=list(COLUMNS))
    frame["port"] = frame["port"].astype("int64")
    frame["matches"] = frame["matches"].astype("Int64")
    frame["probed_at"] = pd.to_datetime(frame["probed_at"], utc=True, format="ISO8601")
    return frame

"""Whole reports built from results, no socket: :func:`weekly_report` is one week's scan
of the same small network (:func:`endpoint` results with catalogue findings: an IPv6
host, a web API, TLS, an accepted finding, a lapsed acceptance, a refused port), and
:func:`render_text` renders one."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from exposcan import findings as catalogue
from exposcan.report.convert import render
from exposcan.results import AcceptedRisk, EndpointResult, Finding
from exposcan.summary import ScanReport, SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Status

#: Evidence text that stands for what a peer said: it may be in properties only.
PEER_WORDS = "PEER-SAID-THIS"


def _at(start: datetime, seconds: float) -> str:
    return (start + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def endpoint(
    host: str,
    port: int,
    protocol: Protocol,
    exposure: Exposure,
    *findings: Finding,
    status: Status = Status.SUCCESS,
    probed_at: str | None = None,
) -> EndpointResult:
    return EndpointResult(
        host=host,
        port=port,
        protocol=protocol,
        status=status,
        exposure=exposure,
        findings=findings,
        probed_at=probed_at,
    )


def weekly_report(
    *,
    start: datetime,
    scan_id: str | None = None,
    matches: int = 7,
    reverse: bool = False,
    site: str | None = "North campus",
) -> ScanReport:
    """One scan of the network; ``matches`` (the evidence's count) and the order of the
    endpoints change from week to week, as they do on a real network."""
    accepted = AcceptedRisk(
        reason="Worklist bridge behind a firewall, CHG-1234", expires="2999-12-31"
    )
    lapsed = AcceptedRisk(reason="Modality migration, CHG-0042", expires="2020-01-31")
    results = [
        endpoint(
            "192.0.2.10",
            104,
            Protocol.DIMSE,
            Exposure.QUERY,
            catalogue.DICOM_AE_TITLE_NOT_CHECKED.found("random called AE title accepted"),
            catalogue.DICOM_ECHO_UNAUTHENTICATED.found(f"C-ECHO for 'ANY-SCP' ({PEER_WORDS})"),
            catalogue.DICOM_QUERY_MATCHES.found(
                f"Study Root C-FIND returned {matches} match(es); identifiers were not kept"
            ),
            probed_at=_at(start, 1),
        ),
        endpoint(
            "192.0.2.10",
            8042,
            Protocol.HTTP,
            Exposure.QUERY,
            catalogue.WEB_ORTHANC_REST_OPEN.found(f"GET /studies listed {matches} studies"),
            catalogue.WEB_ORTHANC_DICOMWEB_PLUGIN.found("named plugin dicom-web"),
            probed_at=_at(start, 2),
        ),
        endpoint(
            "2001:db8::7",
            2762,
            Protocol.DIMSE_TLS,
            Exposure.ECHO,
            catalogue.DICOM_ECHO_UNAUTHENTICATED.found("C-ECHO over TLS"),
            catalogue.TLS_CERTIFICATE_SELF_SIGNED.found("subject equals issuer"),
            probed_at=_at(start, 3),
        ),
        endpoint(
            "192.0.2.11",
            11112,
            Protocol.DIMSE,
            Exposure.STORE,
            replace(
                catalogue.DICOM_WORKLIST_OFFERED.found("worklist-find accepted"),
                accepted=accepted,
            ),
            replace(
                catalogue.DICOM_STORAGE_ACCEPTED.found("CT Image Storage accepted"),
                accepted=lapsed,
            ),
            probed_at=_at(start, 4),
        ),
        endpoint(
            "192.0.2.12",
            104,
            Protocol.DIMSE,
            Exposure.NONE,
            status=Status.CONNECTION_REFUSED,
            probed_at=_at(start, 5),
        ),
    ]
    if reverse:
        results.reverse()
    builder = SummaryBuilder(started_at=_at(start, 0), total=len(results))
    for result in results:
        builder.add(result)
    header = {
        "record": "scan",
        "scan_id": scan_id or str(uuid.uuid4()),
        "tool": "exposcan",
        "started_at": _at(start, 0),
        "site": site,
        "scope": {"owner": "Example Hospital IT Security", "reference": "CHG-2026-0042"},
    }
    summary = builder.build(finished_at=_at(start, 6), duration_s=6.0, interrupted=False)
    return ScanReport(header=header, results=tuple(results), summary=summary)


def render_text(report: ScanReport, fmt: str) -> str:
    stream = io.StringIO()
    render(report, fmt, stream)
    return stream.getvalue()

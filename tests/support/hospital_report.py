"""A synthetic hospital's report for the HTML tests (unit and Chromium): every exposure
level, an accepted and a lapsed acceptance, a site label and ~1,500 closed endpoints.
Synthetic: no patient, no real address."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from exposcan import findings as catalogue
from exposcan.results import AcceptedRisk, EndpointResult, Finding, Fingerprint, Matches, TlsFacts
from exposcan.summary import ScanReport, Summary, SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Status

SCAN_ID = "0b6f3c8e-5d1a-4c7e-9a55-2f1e8d7c6b5a"
SITE = "St Example Hospital, Radiology"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def header(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "record": "scan",
        "scan_id": SCAN_ID,
        "tool": "exposcan",
        "version": "0.1.0",
        "started_at": "2026-12-01T02:00:00+00:00",
        "site": SITE,
        "scope": {
            "source": "/etc/exposcan/radiology.toml",
            "digest": "sha256:" + "ab" * 32,
            "owner": "Example Hospital IT Security",
            "reference": "CHG-2026-0042",
            "expires": "2026-12-31T23:59:59.999999+00:00",
            "include": ["10.20.0.0/24", "pacs.example.org"],
            "exclude": ["10.20.0.200/29"],
        },
        "targets": [],
        "hosts": 249,
        "ports": [104, 2762, 11112],
        "web_ports": [443, 8042, 8080],
        "endpoints": 249 * 6,
    }
    record.update(changes)
    return record


def accepted(finding: Finding, reason: str, expires: date | None) -> Finding:
    return dataclasses.replace(
        finding,
        accepted=AcceptedRisk(reason=reason, expires=expires.isoformat() if expires else None),
    )


def endpoint(
    host: str, port: int, exposure: Exposure, *found: Finding, **extra: object
) -> EndpointResult:
    """A result that answered (DIMSE unless ``protocol`` says otherwise)."""
    return EndpointResult(
        host=host,
        port=port,
        protocol=extra.pop("protocol", Protocol.DIMSE),  # type: ignore[arg-type]
        status=Status.SUCCESS,
        exposure=exposure,
        findings=found,
        probed_at="2026-12-01T02:00:01.250+00:00",
        duration_s=0.8,
        attempts=2,
        **extra,  # type: ignore[arg-type]
    )


def hospital_results(today: date) -> list[EndpointResult]:
    """One of each kind: query (DIMSE and web), store, echo (one accepted, one whose
    acceptance lapsed), TLS and web logins that hold, a viewer without login, and the
    rest of the range closed or silent."""
    echo = catalogue.DICOM_ECHO_UNAUTHENTICATED
    orthanc = Fingerprint(
        implementation_class_uid="1.2.276.0.7230010.3.0.3.6.7",
        implementation_version_name="OFFIS_DCMTK_367",
        product="Orthanc",
        version="1.12.1",
    )
    results = [
        endpoint(
            "10.20.0.11",
            104,
            Exposure.QUERY,
            catalogue.DICOM_QUERY_MATCHES.found("C-FIND at STUDY level: 100 matches (cap hit)"),
            echo.found("A-ASSOCIATE-AC for called AE 'ANY-SCP'; C-ECHO status 0x0000"),
            catalogue.DICOM_RETRIEVE_OFFERED.found("C-MOVE and C-GET contexts accepted"),
            ae_title="ANY-SCP",
            fingerprint=orthanc,
            services=("verification", "study-root-find", "study-root-move"),
            matches=Matches(count=100, cap=100, cap_hit=True),
        ),
        endpoint(
            "10.20.0.11",
            8042,
            Exposure.QUERY,
            catalogue.WEB_ORTHANC_REST_OPEN.found("GET /studies listed 12 studies"),
            protocol=Protocol.HTTP,
            fingerprint=Fingerprint(product="Orthanc", version="1.12.1"),
        ),
        endpoint(
            "10.20.0.15",
            11112,
            Exposure.STORE,
            catalogue.DICOM_STORAGE_ACCEPTED.found("3 storage SOP classes accepted"),
            echo.found("C-ECHO status 0x0000"),
            ae_title="STORESCP",
        ),
        endpoint(
            "10.20.0.21",
            104,
            Exposure.ECHO,
            accepted(
                echo.found("C-ECHO status 0x0000"),
                "Legacy CT console on an isolated VLAN; replacement ordered",
                today + timedelta(days=120),
            ),
            ae_title="ANY-SCP",
        ),
        endpoint(
            "10.20.0.22",
            104,
            Exposure.ECHO,
            accepted(
                echo.found("C-ECHO status 0x0000"),
                "Ultrasound cart, vendor patch pending",
                today - timedelta(days=30),
            ),
            ae_title="ANY-SCP",
        ),
        endpoint(
            "10.20.0.30",
            2762,
            Exposure.PROTECTED,
            catalogue.DICOM_TLS_CLIENT_CERTIFICATE_REQUIRED.found("handshake asked for one"),
            catalogue.TLS_CERTIFICATE_SELF_SIGNED.found("subject equals issuer"),
            protocol=Protocol.DIMSE_TLS,
            tls=TlsFacts(version="TLSv1.3", self_signed=True, client_certificate_required=True),
        ),
        endpoint(
            "10.20.0.40",
            104,
            Exposure.PROTECTED,
            catalogue.DICOM_CALLED_AE_CHECKED.found("'ANY-SCP' rejected (reason 7)"),
        ),
        endpoint(
            "10.20.0.50",
            8080,
            Exposure.NONE,
            catalogue.WEB_VIEWER_NO_LOGIN.found("OHIF index served"),
            protocol=Protocol.HTTP,
        ),
    ]
    quiet = [Status.CONNECTION_REFUSED] * 1300 + [Status.CONNECTION_TIMEOUT] * 186
    for i, status in enumerate(quiet):
        results.append(
            EndpointResult(
                host=f"10.20.{i // 250 + 1}.{i % 250 + 1}",
                port=(104, 11112, 8042)[i % 3],
                protocol=Protocol.HTTP if i % 3 == 2 else Protocol.DIMSE,
                status=status,
                exposure=Exposure.NONE,
            )
        )
    return results


def summarise(
    results: Iterable[EndpointResult],
    planned: int,
    *,
    interrupted: bool = False,
    stopped: str | None = None,
) -> Summary:
    builder = SummaryBuilder(started_at="2026-12-01T02:00:00+00:00", total=planned)
    for result in results:
        builder.add(result)
    return builder.build(
        finished_at="2026-12-01T02:14:05+00:00",
        duration_s=845.2,
        interrupted=interrupted,
        stopped=stopped,
    )


def hospital_report(today: date | None = None) -> ScanReport:
    results = hospital_results(today or datetime.now(UTC).date())
    return ScanReport(
        header=header(), results=tuple(results), summary=summarise(results, len(results))
    )

"""Web observations in, exposure and findings out. Pure: no I/O, no clock.

The levels, highest first (an endpoint's level is the highest it reached):

``query``
    a study listing or count answered a stranger: Orthanc ``/statistics`` (``CountStudies``
    > 0) or ``/studies``, or QIDO-RS ``studies?limit=1`` answering
    ``application/dicom+json`` with a Study Instance UID (0020000D); also through
    documented default credentials (``--try-default-credentials``).
``echo``
    a DICOM web API answered a stranger but listed no study: Orthanc's REST API with an
    empty archive or without a count, an empty QIDO-RS answer, a WADO-URI service asking
    for its parameters. The web counterpart of DIMSE's "accepted, but nothing listed"
    (``classify.reached``: C-FIND with no match is ``echo`` too).
``protected``
    401/403 or a redirect to a login page (on a probed path or on every path) where a DICOM
    web API is confirmed: a product identified itself (Orthanc's realm, a Keycloak realm of
    a secured archive, a viewer's markers, an API answer), or a DICOM-specific path
    (QIDO-RS search, dcm4chee-arc's AE listing) was refused while the random path was not.
    A refusal without either (a router's Basic auth in front of everything, one short path
    such as ``/wado`` or ``/system`` refused) stays ``none``, with the info finding
    ``web-auth-required-unidentified``: such a refusal proves no DICOM service.
``none``
    nothing DICOM answered. A viewer shell alone (OHIF, a PACS web UI) stays ``none``
    with a finding of its own: the shell holds no data, and the API it uses was not
    reachable from here (or is on another origin, which is not probed), so no leak is
    proven. The finding says so, so that a reader can follow it up.

Evidence holds facts only: status codes, counts, booleans, paths exposcan chose (a part a
peer named, such as an AE title it listed or a viewer's QIDO root, is a placeholder),
product names from fixed tables and versions that pass :func:`exposcan.peertext.version`.
A login redirect is reported as its status and whether it stays on the origin, never as
its target. No value from a peer's body, header or redirect is quoted.
"""

from __future__ import annotations

from exposcan import findings as catalogue
from exposcan.probes.web import (
    CredentialOutcome,
    Outcome,
    ServiceCheck,
    Viewer,
    WebObservation,
    WebService,
)
from exposcan.results import Finding, Fingerprint, Matches, Verdict
from exposcan.rules import Rule
from exposcan.tls_findings import tls_findings
from exposcan.vocabulary import Exposure

__all__ = ["classify_web"]

_OPEN = (Outcome.LISTED, Outcome.EMPTY, Outcome.PRESENT)
_REFUSALS = (Outcome.REFUSED, Outcome.LOGIN)
#: Services whose anonymous answer is a DICOM web API at work (``echo`` when nothing is
#: listed). An AE listing (dcm4chee-arc), a version string (Dicoogle) or a plugin's
#: metadata only name a product: they are reported in ``services``, not as a level.
_ECHO_SERVICES = (
    WebService.ORTHANC_REST,
    WebService.DICOMWEB_QIDO,
    WebService.WADO_URI,
    WebService.PIXELMED_PATIENT_LIST,
    WebService.DICOOGLE_SEARCH,
    WebService.CONQUEST_PATIENT_LIST,
)
#: Paths only a DICOM web API serves: refused there while the random path was not, they
#: confirm one. ``/wado`` and ``/system`` alone are too short and too common to count.
_DICOM_SPECIFIC = (WebService.DICOMWEB_QIDO, WebService.DCM4CHEE_ARC)

#: A product's own listing: its findings (something listed, nothing now), what the answer
#: was, and what the evidence adds after the count.
_LISTINGS: dict[WebService, tuple[Rule, Rule, str, str]] = {
    WebService.PIXELMED_PATIENT_LIST: (
        catalogue.WEB_PIXELMED_PATIENT_LIST_OPEN,
        catalogue.WEB_PIXELMED_PATIENT_LIST_OPEN_NONE_LISTED,
        "PixelMed's patient list",
        " (rows counted; names and IDs were not kept); its study lists and "
        "requestType=WADO serve the rest to anyone (not asked)",
    ),
    WebService.CONQUEST_PATIENT_LIST: (
        catalogue.WEB_CONQUEST_PATIENT_LIST_OPEN,
        catalogue.WEB_CONQUEST_PATIENT_LIST_OPEN_NONE_LISTED,
        "Conquest's list of all patients",
        " (rows counted; names and IDs were not kept); its study, series and image pages "
        "serve the rest to anyone (not asked)",
    ),
    WebService.DICOOGLE_SEARCH: (
        catalogue.WEB_DICOOGLE_SEARCH_OPEN,
        catalogue.WEB_DICOOGLE_SEARCH_OPEN_NONE_LISTED,
        "Dicoogle's search for everything",
        ", asked with a page of none, so no result was sent; the same search with a page "
        "lists every match's metadata",
    ),
}

#: Viewers that have no login of their own: reaching the page is reaching the viewer.
_NO_LOGIN_VIEWERS = (
    Viewer.OHIF,
    Viewer.ORTHANC_EXPLORER,
    Viewer.ORTHANC_EXPLORER_2,
    Viewer.PIXELMED_WEB,  # PixelMed's web server has no authentication at all
)
_VIEWER_NAMES = {
    Viewer.OHIF: "OHIF Viewer",
    Viewer.ORTHANC_EXPLORER: "Orthanc Explorer",
    Viewer.ORTHANC_EXPLORER_2: "Orthanc Explorer 2",
    Viewer.DCM4CHEE_UI: "dcm4chee-arc UI",
    Viewer.KHEOPS_UI: "Kheops UI",
    Viewer.DICOOGLE_UI: "Dicoogle web UI",
    Viewer.PIXELMED_WEB: "PixelMed web server",
    Viewer.CONQUEST_WEB: "Conquest web interface",
    Viewer.HOROS_WEB_PORTAL: "Horos Web Portal",
    Viewer.OSIRIX_WEB_PORTAL: "OsiriX Web Portal",
}


def _reached(observation: WebObservation) -> Exposure:
    checks = observation.checks
    if any(c.outcome == Outcome.LISTED for c in checks):
        return Exposure.QUERY
    if any(
        c.outcome in (Outcome.EMPTY, Outcome.PRESENT) and c.service in _ECHO_SERVICES
        for c in checks
    ):
        return Exposure.ECHO
    if _refused(observation) and _confirmed(observation):
        return Exposure.PROTECTED
    if observation.tls is not None and observation.tls.client_certificate_required:
        return Exposure.PROTECTED
    return Exposure.NONE


def _refused(observation: WebObservation) -> bool:
    return (
        observation.auth_wall
        or observation.login_redirect is not None
        or any(r.status in (401, 403) for r in observation.requests)
        or any(c.outcome in _REFUSALS for c in observation.checks)
    )


def _confirmed(observation: WebObservation) -> bool:
    """Is a DICOM web API behind this origin proven (DESIGN.md, ``protected``)?"""
    if observation.product is not None:
        return True
    return any(c.outcome in _REFUSALS and c.service in _DICOM_SPECIFIC for c in observation.checks)


def classify_web(observation: WebObservation) -> Verdict:
    exposure = _reached(observation)
    findings: list[Finding] = []
    findings.extend(_api_findings(observation))
    credentials = observation.credentials
    refused_credentials = (
        credentials is not None and credentials.outcome == CredentialOutcome.REFUSED
    )
    if exposure is Exposure.PROTECTED or refused_credentials:
        findings.append(_auth_finding(observation))
    elif exposure is Exposure.NONE and _refused(observation):
        findings.append(_auth_finding(observation, identified=False))
    if observation.viewers and exposure <= Exposure.NONE:
        findings.append(_viewer_finding(observation))
    findings.extend(tls_findings(observation.tls, kind="web", detail=observation.detail))
    return Verdict(
        exposure=exposure,
        status=observation.status,
        detail=observation.detail,
        findings=tuple(findings),
        fingerprint=(
            Fingerprint(product=observation.product, version=observation.version)
            if observation.product
            else None
        ),
        services=_services(observation),
        ae_title=None,
        matches=_matches(observation),
    )


def _services(observation: WebObservation) -> tuple[str, ...]:
    shown = (*_OPEN, *_REFUSALS) if _confirmed(observation) else _OPEN
    names: list[str] = [c.service for c in observation.checks if c.outcome in shown]
    names.extend(observation.viewers)
    return tuple(dict.fromkeys(names))


def _matches(observation: WebObservation) -> Matches | None:
    """Studies, else patients, else instances: the first level at which something was
    counted, passing over a level that counted none (an empty QIDO root beside a
    Dicoogle that indexes thousands is that Dicoogle's count)."""
    found = [
        m
        for m in (_studies(observation), _patients(observation), _instances(observation))
        if m is not None
    ]
    return next((m for m in found if m.count), found[0] if found else None)


def _studies(observation: WebObservation) -> Matches | None:
    counted = [c for c in observation.checks if c.studies is not None]
    if not counted:
        return None
    # The archive's own total first; then the longest listing.
    best = max(counted, key=lambda c: (c.exact, c.studies or 0))
    count = best.studies or 0
    if best.exact:
        # The archive's own total (Orthanc /statistics) is reported as it is: nothing was
        # listed, so nothing was capped; ``cap`` is the scan's --max-matches.
        return Matches(count=count, cap=best.cap or count, cap_hit=False, level="STUDY")
    cap = best.cap or max(count, 1)
    return Matches(count=count, cap=cap, cap_hit=count >= cap, level="STUDY")


def _patients(observation: WebObservation) -> Matches | None:
    """A patient list (PixelMed's) counted, when no study count exists."""
    counted = [c for c in observation.checks if c.patients is not None]
    if not counted:
        return None
    best = max(counted, key=lambda c: c.patients or 0)
    count = best.patients or 0
    # ``cap`` is set when the list was longer than the body cap: at least ``count``.
    cap = best.cap if best.cap is not None else max(count, 1)
    return Matches(count=count, cap=cap, cap_hit=best.cap is not None, level="PATIENT")


def _instances(observation: WebObservation) -> Matches | None:
    """The archive's own count of instances (Dicoogle's), when nothing else was counted:
    reported as it is, nothing was listed, so nothing was capped."""
    counted = [c.instances for c in observation.checks if c.instances is not None]
    if not counted:
        return None
    count = max(counted)
    return Matches(count=count, cap=max(count, 1), cap_hit=False, level="IMAGE")


def _how_many(check: ServiceCheck) -> str:
    if check.instances is not None:
        n = check.instances
        return f"{n} instance{'' if n == 1 else 's'} matched (the archive's own count)"
    if check.patients is not None:
        n = check.patients
        more = " (the list was longer than what was read: more exist)" if check.cap else ""
        return f"{n} patient{'' if n == 1 else 's'} listed{more}"
    n = check.studies or 0
    if check.exact:
        return f"CountStudies = {n}"
    if check.cap is not None and n >= check.cap:
        more = " (more may exist)" if check.cap == 1 else f" (the limit {check.cap} was reached)"
        return f"{n} stud{'y' if n == 1 else 'ies'} listed{more}"
    return f"{n} stud{'y' if n == 1 else 'ies'} listed"


def _api_findings(observation: WebObservation) -> list[Finding]:
    findings: list[Finding] = []
    product = _product_text(observation)
    for check in observation.checks:
        if check.outcome not in _OPEN:
            continue
        if check.with_credentials:
            credentials = observation.credentials
            user = credentials.user if credentials is not None else "?"
            what = _how_many(check) if check.studies is not None else "the API answered"
            findings.append(
                catalogue.WEB_DEFAULT_CREDENTIALS.found(
                    f"{product} accepted user {user!r} with its documented default "
                    f"password (one attempt); GET {check.path}: {what}; identifiers "
                    "were not kept"
                )
            )
        elif check.service == WebService.ORTHANC_REST:
            if check.outcome == Outcome.PRESENT:
                evidence = f"GET {check.path} answered anonymously ({product}); no study count"
            else:
                evidence = f"GET {check.path} answered anonymously: {_how_many(check)}"
            entry = (
                catalogue.WEB_ORTHANC_REST_OPEN
                if check.outcome == Outcome.LISTED
                else catalogue.WEB_ORTHANC_REST_OPEN_NONE_LISTED
            )
            findings.append(
                entry.found(evidence + "; the API also accepts uploads, changes and deletions")
            )
        elif check.service == WebService.DICOMWEB_QIDO:
            entry = (
                catalogue.WEB_DICOMWEB_QIDO_OPEN
                if check.outcome == Outcome.LISTED
                else catalogue.WEB_DICOMWEB_QIDO_OPEN_NONE_LISTED
            )
            # A wall in front of the rest of the site does not cover this path.
            walled = (
                "; every other path asked for authentication (a random path was refused)"
                if observation.auth_wall
                else ""
            )
            findings.append(
                entry.found(
                    f"GET {check.path} returned application/dicom+json: "
                    f"{_how_many(check)}; identifiers were not kept{walled}"
                )
            )
        elif check.service in _LISTINGS:
            listed, none_listed, what, rest = _LISTINGS[check.service]
            entry = listed if check.outcome == Outcome.LISTED else none_listed
            findings.append(
                entry.found(f"GET {check.path} answered {what}: {_how_many(check)}{rest}")
            )
        elif check.service == WebService.WADO_URI:
            findings.append(
                catalogue.WEB_WADO_URI_PRESENT.found(
                    f"GET {check.path} without parameters was answered like a WADO-URI "
                    "service asking for its parameters; nothing was retrieved"
                )
            )
        elif check.service == WebService.ORTHANC_DICOMWEB_PLUGIN:
            version = f" {check.version}" if check.version else ""
            findings.append(
                catalogue.WEB_ORTHANC_DICOMWEB_PLUGIN.found(
                    f"GET {check.path} named plugin dicom-web{version}; it serves "
                    "QIDO-RS, WADO-RS and STOW-RS under /dicom-web/ and WADO-URI at "
                    "/wado by default (its WADO-URI answers 404 without parameters, so "
                    "only this tells it is there; nothing was retrieved)"
                )
            )
    return findings


def _auth_finding(observation: WebObservation, *, identified: bool = True) -> Finding:
    refused = [r for r in observation.requests if r.status in (401, 403) or r.login_redirect]
    answered = [r for r in observation.requests if r.status is not None]
    parts = [f"{len(refused)} of {len(answered)} answered request(s) refused or redirected"]
    statuses = sorted({r.status for r in refused if r.status is not None})
    if statuses:
        parts.append("status " + "/".join(str(s) for s in statuses))
    if observation.auth_wall:
        parts.append("a random path was refused too (authentication in front of everything)")
    if observation.auth_schemes:
        parts.append("schemes: " + ", ".join(observation.auth_schemes))
    login = observation.login_redirect
    if login is not None:
        # Facts, not the target: a login URL's path and query can carry a patient's name.
        status = f" (HTTP {login.status})" if login.status is not None else ""
        where = "this origin" if login.same_origin else "another origin"
        parts.append(f"redirect{status} to a login page on {where}")
    parts.append(f"product: {_product_text(observation)}")
    credentials = observation.credentials
    if credentials is not None and credentials.outcome == CredentialOutcome.REFUSED:
        parts.append(f"documented default credentials for {credentials.product} refused (1 try)")
    if not identified:
        parts.append("no DICOM product or DICOM-specific path identified behind the refusal")
        return catalogue.WEB_AUTH_REQUIRED_UNIDENTIFIED.found("; ".join(parts))
    return catalogue.WEB_AUTH_REQUIRED.found("; ".join(parts))


def _viewer_finding(observation: WebObservation) -> Finding:
    names = ", ".join(_VIEWER_NAMES.get(v, v) for v in observation.viewers)
    notes = ["no DICOMweb or REST data API on this origin answered a stranger"]
    if observation.catch_all:
        notes.append("the server answers 200 for any path, so only the viewer's own markers count")
    if observation.viewer_api_elsewhere:
        notes.append("its configured QIDO root is on another origin (not probed)")
    no_login = (
        any(v in _NO_LOGIN_VIEWERS for v in observation.viewers) and not observation.viewer_login
    )
    if no_login:
        return catalogue.WEB_VIEWER_NO_LOGIN.found(
            f"{names} served at / without authentication; " + "; ".join(notes)
        )
    return catalogue.WEB_VIEWER_PRESENT.found(
        f"{names} served without HTTP authentication; " + "; ".join(notes)
    )


def _product_text(observation: WebObservation) -> str:
    if not observation.product:
        return "not identified"
    if observation.version:
        return f"{observation.product} {observation.version}"
    return observation.product

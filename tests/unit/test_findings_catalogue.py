"""The finding catalogue: one entry per id, every finding made from it, SARIF and the
docs read from it. Pure: no sockets."""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest

from exposcan import findings as catalogue
from exposcan.classify import classify_dimse
from exposcan.classify_web import classify_web
from exposcan.dicom.events import AcceptedContext, AssociationAccepted, AssociationRejected
from exposcan.dicom.uids import VERIFICATION
from exposcan.findings import CATALOGUE, Rule
from exposcan.probes.dimse import Attempt, DimseObservation
from exposcan.probes.web import Outcome, ServiceCheck, WebObservation, WebService
from exposcan.report.sarif import SarifWriter
from exposcan.results import EndpointResult, Finding, TlsFacts
from exposcan.summary import Summary
from exposcan.tls_findings import tls_findings
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "exposcan"

#: What each remediation must name to be the remediation of its id, and what it must not
#: (``dicom-retrieve-offered`` once carried the C-FIND text). A new entry with a
#: remediation fails ``test_every_remediation_is_checked`` until it is listed here.
REMEDIATION_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dicom-ae-title-not-checked": (("AE title", "addresses"), ()),
    "dicom-called-ae-guessable": (("called AE title",), ()),
    "dicom-stock-ae-title": (("called AE title", "shipped default"), ()),
    "dicom-called-ae-disclosed": (("called AE title", "shipped default"), ()),
    "dicom-storage-accepted": (("storage", "DicomAlwaysAllowStore"), ("C-FIND",)),
    "dicom-retrieve-offered": (
        ("C-MOVE", "C-GET", "DicomAlwaysAllowMove", "DicomAlwaysAllowGet"),
        ("C-FIND", "DicomAlwaysAllowFind "),
    ),
    "dicom-echo-unauthenticated": (("AE title",), ()),
    "dicom-association-accepted": (("AE title",), ()),
    "dicom-query-matches": (("C-FIND", "DicomAlwaysAllowFind "), ("worklist",)),
    "dicom-query-allowed": (("C-FIND", "DicomAlwaysAllowFind "), ("worklist",)),
    "dicom-worklist-matches": (("worklist", "DicomAlwaysAllowFindWorklist"), ()),
    "dicom-worklist-allowed": (("worklist", "DicomAlwaysAllowFindWorklist"), ()),
    "dicom-worklist-offered": (("worklist", "DicomAlwaysAllowFindWorklist"), ()),
    "tls-legacy-version": (("TLS 1.2 or 1.3 only",), ("SSL",)),
    "tls-certificate-expired": (("Renew",), ()),
    "tls-certificate-unreadable": (("Reissue", "encodings"), ()),
    "web-default-credentials": (("default account", "passwords"), ()),
    "web-orthanc-rest-open": (("AuthenticationEnabled",), ()),
    "web-orthanc-rest-open-none-listed": (("AuthenticationEnabled",), ()),
    "web-dicomweb-qido-open": (("DICOMweb", "authentication"), ()),
    "web-dicomweb-qido-open-none-listed": (("DICOMweb", "authentication"), ()),
    "web-pixelmed-patient-list-open": (("PixelMed", "authentication"), ()),
    "web-pixelmed-patient-list-open-none-listed": (("PixelMed", "authentication"), ()),
    "web-conquest-patient-list-open": (("dgate", "authentication"), ()),
    "web-conquest-patient-list-open-none-listed": (("dgate", "authentication"), ()),
    "web-dicoogle-search-open": (("Dicoogle", "authenticating"), ()),
    "web-dicoogle-search-open-none-listed": (("Dicoogle", "authenticating"), ()),
    "web-wado-uri-present": (("WADO-URI", "authentication"), ()),
    "web-viewer-no-login": (("viewer", "authentication"), ()),
}


def test_every_remediation_is_checked():
    assert {e.id for e in CATALOGUE.values() if e.remediation} == set(REMEDIATION_NAMES)


@pytest.mark.parametrize("finding_id", sorted(REMEDIATION_NAMES))
def test_remediation_fits_its_id(finding_id):
    must, must_not = REMEDIATION_NAMES[finding_id]
    remediation = CATALOGUE[finding_id].remediation
    for word in must:
        assert word in remediation, (finding_id, word)
    for word in must_not:
        assert word not in remediation, (finding_id, word)


def test_retrieve_has_its_own_remediation():
    retrieve = catalogue.DICOM_RETRIEVE_OFFERED.remediation
    assert retrieve != catalogue.DICOM_QUERY_MATCHES.remediation
    assert "C-MOVE" in retrieve
    assert "C-FIND" not in retrieve


def test_anything_low_or_worse_says_what_to_do():
    for entry in CATALOGUE.values():
        if entry.severity >= Severity.LOW:
            assert entry.remediation, entry.id


def test_ids_titles_and_references_are_well_formed():
    for key, entry in CATALOGUE.items():
        assert key == entry.id
        assert re.fullmatch(r"(dicom|web|tls)-[a-z0-9]+(-[a-z0-9]+)*", entry.id), entry.id
        assert isinstance(entry.severity, Severity)
        # A fixed title: no placeholder, no quoted value, nothing a peer chose.
        assert entry.title, entry.id
        assert not re.search(r"[{}\"]|%s|(^|\s)'", entry.title), entry.id
        assert all(r.strip() for r in entry.references), entry.id


def test_an_id_is_catalogued_once():
    with pytest.raises(ValueError, match="catalogued twice"):
        catalogue._entry("dicom-query-matches", Severity.INFO, "another severity")
    assert CATALOGUE["dicom-query-matches"].severity is Severity.CRITICAL


def test_a_finding_takes_its_fixed_fields_from_the_entry():
    finding = catalogue.DICOM_STOCK_AE_TITLE.found("stock title 'PEER{VALUE}' was accepted")
    assert finding.id == "dicom-stock-ae-title"
    assert finding.severity is Severity.HIGH
    assert finding.title == catalogue.DICOM_STOCK_AE_TITLE.title
    assert finding.remediation == catalogue.DICOM_STOCK_AE_TITLE.remediation
    assert "PEER{VALUE}" in finding.evidence
    assert "PEER" not in finding.title


def _finding_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "Finding")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "Finding")
        )
    ]


def test_only_the_catalogue_builds_findings():
    """No module of the package builds a ``Finding`` by hand (an id, severity or title
    typed where a finding is reported is how one id came to have two severities)."""
    allowed = {PACKAGE / "rules.py", PACKAGE / "results.py"}
    builders = {
        str(path.relative_to(ROOT)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in allowed and (lines := _finding_calls(path))
    }
    assert builders == {}
    assert _finding_calls(PACKAGE / "rules.py")  # the check sees a call where one is


def test_every_entry_is_reported_somewhere():
    """An entry no classifier names is a dead rule in SARIF and in the docs."""
    names = {name for name, value in vars(catalogue).items() if isinstance(value, Rule)}
    assert len(names) == len(CATALOGUE)
    used: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "findings.py":
            continue
        used |= set(re.findall(r"catalogue\.([A-Z][A-Z0-9_]+)", path.read_text("utf-8")))
    assert names - used == set()


def _assert_catalogued(findings: tuple[Finding, ...] | list[Finding]) -> None:
    assert findings
    for finding in findings:
        entry = CATALOGUE[finding.id]
        assert (finding.severity, finding.title, finding.remediation) == (
            entry.severity,
            entry.title,
            entry.remediation,
        )


_REJECTED_CALLED = AssociationRejected(
    result=1,
    source=1,
    reason=7,
    result_text="rejected-permanent",
    source_text="service-user",
    reason_text="called AE title not recognised",
)


def _accepted() -> AssociationAccepted:
    return AssociationAccepted(
        accepted=(AcceptedContext(1, VERIFICATION, "1.2.840.10008.1.2"),),
        rejected=(),
        max_pdu_length=16384,
        implementation_class_uid=None,
        implementation_version_name=None,
        protocol_version=1,
    )


def _attempt(purpose: str, called: str, **kw: object) -> Attempt:
    return Attempt(
        purpose=purpose,
        called_ae_title=called,
        calling_ae_title="EXPOSCAN",
        status=Status.SUCCESS,
        **kw,  # type: ignore[arg-type]
    )


def test_a_stock_title_that_gets_in_is_high_and_its_title_is_fixed():
    """``dicom-stock-ae-title`` was high or low by the exposure: the low arm could not be
    reached (the stock attempt decides only when it got further than the first one's
    refusal), so the id has the one severity it was always reported with."""
    observation = DimseObservation(
        host="192.0.2.1",
        port=104,
        duration_s=0.1,
        attempts=(
            _attempt("first", "ANY-SCP", rejected=_REJECTED_CALLED),
            _attempt("stock", "PEER-STOCK", accepted=_accepted(), echo_status=0x0000),
        ),
    )
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.ECHO
    by_id = {f.id: f for f in verdict.findings}
    assert by_id["dicom-stock-ae-title"].severity is Severity.HIGH
    assert "'PEER-STOCK'" in by_id["dicom-stock-ae-title"].evidence
    assert all("PEER-STOCK" not in f.title for f in verdict.findings)
    _assert_catalogued(verdict.findings)


@pytest.mark.parametrize(
    ("outcome", "studies", "finding_id", "severity"),
    [
        (Outcome.LISTED, 3, "web-dicomweb-qido-open", Severity.CRITICAL),
        (Outcome.EMPTY, 0, "web-dicomweb-qido-open-none-listed", Severity.HIGH),
    ],
)
def test_qido_open_is_one_id_per_severity(outcome, studies, finding_id, severity):
    check = ServiceCheck(
        service=WebService.DICOMWEB_QIDO,
        path="/dicom-web/studies?limit=1",
        outcome=outcome,
        studies=studies,
        cap=1,
    )
    verdict = classify_web(_web(checks=(check,)))
    assert {f.id: f.severity for f in verdict.findings} == {finding_id: severity}
    _assert_catalogued(verdict.findings)


@pytest.mark.parametrize(
    ("outcome", "finding_id", "severity"),
    [
        (Outcome.LISTED, "web-orthanc-rest-open", Severity.CRITICAL),
        (Outcome.PRESENT, "web-orthanc-rest-open-none-listed", Severity.HIGH),
    ],
)
def test_orthanc_rest_open_is_one_id_per_severity(outcome, finding_id, severity):
    check = ServiceCheck(
        service=WebService.ORTHANC_REST,
        path="/statistics" if outcome == Outcome.LISTED else "/system",
        outcome=outcome,
        studies=2 if outcome == Outcome.LISTED else None,
    )
    verdict = classify_web(_web(checks=(check,), product="Orthanc"))
    assert {f.id: f.severity for f in verdict.findings}[finding_id] is severity
    _assert_catalogued(verdict.findings)


def _web(**kw: object) -> WebObservation:
    base: dict[str, object] = {
        "host": "192.0.2.1",
        "port": 8080,
        "protocol": Protocol.HTTP,
        "status": Status.SUCCESS,
        "detail": None,
        "requests": (),
    }
    return WebObservation(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["dicom", "web"])
def test_tls_findings_come_from_the_catalogue(kind):
    facts = TlsFacts(
        version="TLSv1",
        cipher="AES128-SHA",
        subject="CN=peer",
        not_after="2001-01-01T00:00:00Z",
        self_signed=True,
        client_certificate_required=True,
        unreadable="subject,issuer",
    )
    found = tls_findings(facts, kind=kind, detail="certificate required")
    assert {f.id for f in found} == {
        f"{kind}-tls-client-certificate-required",
        "tls-legacy-version",
        "tls-certificate-expired",
        "tls-certificate-self-signed",
        "tls-certificate-unreadable",
    }
    _assert_catalogued(found)


def _sarif(*results: EndpointResult) -> dict[str, object]:
    stream = io.StringIO()
    writer = SarifWriter(stream)
    writer.start({})
    for result in results:
        writer.endpoint(result)
    writer.finish(
        Summary(
            started_at="2026-01-01T00:00:00Z",
            finished_at="2026-01-01T00:00:01Z",
            duration_s=1.0,
            endpoints_planned=len(results),
            endpoints_done=len(results),
            interrupted=False,
            exposure={},
            status={},
            findings={},
        )
    )
    document: dict[str, object] = json.loads(stream.getvalue())
    return document


def _endpoint(port: int, *findings: Finding) -> EndpointResult:
    return EndpointResult(
        host="192.0.2.1",
        port=port,
        protocol=Protocol.DIMSE,
        status=Status.SUCCESS,
        exposure=Exposure.ECHO,
        findings=findings,
    )


def test_sarif_rules_come_from_the_catalogue_not_the_first_endpoint():
    """The first endpoint's finding (as a report of an older version wrote it: the peer's
    title in the title, its severity) no longer becomes the rule."""
    old = Finding(
        id="dicom-stock-ae-title",
        severity=Severity.LOW,
        title="The called AE title is a shipped default: 'PEERTITLE'",
        evidence="stock title 'PEERTITLE' was accepted",
        remediation="",
    )
    retrieve = catalogue.DICOM_RETRIEVE_OFFERED.found("C-MOVE accepted (never exercised)")
    document = _sarif(_endpoint(104, old, retrieve), _endpoint(11112, old))
    run = document["runs"][0]  # type: ignore[index]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    stock = rules["dicom-stock-ae-title"]
    assert stock["shortDescription"]["text"] == catalogue.DICOM_STOCK_AE_TITLE.title
    assert "PEERTITLE" not in json.dumps(stock)
    assert stock["properties"]["security-severity"] == "7.5"  # high, as catalogued
    assert stock["defaultConfiguration"]["level"] == "error"
    assert rules["dicom-retrieve-offered"]["help"]["text"] == (
        catalogue.DICOM_RETRIEVE_OFFERED.remediation
    )
    assert "C-FIND" not in rules["dicom-retrieve-offered"]["help"]["text"]
    assert len(run["results"]) == 3


def test_sarif_describes_an_unknown_id_by_the_finding():
    other = Finding(
        id="dicom-from-a-later-version", severity=Severity.MEDIUM, title="T", evidence="E"
    )
    run = _sarif(_endpoint(104, other))["runs"][0]  # type: ignore[index]
    (rule,) = run["tool"]["driver"]["rules"]
    assert rule["shortDescription"]["text"] == "T"
    assert rule["properties"]["security-severity"] == "5.0"


def test_docs_findings_md_is_the_catalogue():
    """Regenerate with ``python -m exposcan.findings > docs/findings.md``."""
    page = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert page == catalogue.markdown()
    for entry in CATALOGUE.values():
        assert f"| `{entry.id}` | {entry.severity} | {entry.title} |" in page

"""The JSON Schema of the JSONL records (exposcan/data/report.schema.json) without sockets:
it is a valid draft 2020-12 schema, shipped where the docs say; its enums are the
vocabulary's members and its record kinds the reader's; each record's properties are
the fields the code writes; records built by the code validate, and a record with a
required field removed, an unknown field or a value outside the vocabulary does not.

Real reports (scans of loopback peers, a resumed one) are checked against it in
tests/network/test_report_records_schema.py."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from dataclasses import fields
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import exposcan
from exposcan.options import ScanOptions
from exposcan.probe import HostEvidence
from exposcan.report.resume import LATER_RECORDS
from exposcan.results import (
    AcceptedRisk,
    EndpointResult,
    Finding,
    Fingerprint,
    Matches,
    TlsFacts,
)
from exposcan.schema import SCHEMA_RESOURCE, load_schema, schema_path
from exposcan.scope import parse_scope
from exposcan.summary import SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DEFS = SCHEMA["$defs"]
SCAN_ID = str(uuid.uuid4())
STAMP = {"scan_id": SCAN_ID, "site": "Example Hospital"}


def errors(record: dict[str, Any]) -> list[str]:
    """Why ``record``, as a report line holds it (JSON: tuples are arrays), is invalid."""
    found = list(VALIDATOR.iter_errors(json.loads(json.dumps(record))))
    best = jsonschema.exceptions.best_match(found)
    return [] if best is None else [f"{list(best.absolute_path)}: {best.message}"]


def endpoint_record() -> dict[str, Any]:
    """Every optional part filled, as a TLS DICOM port with a query finding would be."""
    result = EndpointResult(
        host="10.0.0.5",
        port=2762,
        protocol=Protocol.DIMSE_TLS,
        status=Status.SUCCESS,
        exposure=Exposure.QUERY,
        hostname="pacs.example.org",
        ae_title="ANY-SCP",
        findings=(
            Finding(
                id="dicom-query-matches",
                severity=Severity.CRITICAL,
                title="t",
                evidence="3 matches",
                remediation="r",
                accepted=AcceptedRisk(reason="bench", expires="2027-01-31"),
            ),
        ),
        fingerprint=Fingerprint(
            implementation_class_uid="1.2.3.4", implementation_version_name="X_1", product="x"
        ),
        services=("verification", "study-root-find"),
        matches=Matches(count=3, cap=100, cap_hit=False),
        tls=TlsFacts(version="TLSv1.3", self_signed=True, key_bits=2048),
        duration_s=0.25,
        attempts=2,
        probed_at="2026-12-02T02:00:00.123+00:00",
    )
    return {"record": "endpoint", **result.to_dict(), **STAMP}


def summary_record(*, stopped: str | None = None) -> dict[str, Any]:
    builder = SummaryBuilder(started_at="2026-12-02T02:00:00+00:00", total=4)
    builder.add_counts(exposure="query", status="success", findings=["dicom-query-matches"])
    summary = builder.build(
        finished_at="2026-12-02T02:00:09+00:00",
        duration_s=9.0,
        interrupted=False,
        stopped=stopped,
    )
    return {"record": "summary", **summary.to_dict(), **STAMP}


def evidence_record() -> dict[str, Any]:
    evidence = HostEvidence("10.0.0.5", 4242, "web", 8042, "Orthanc", "1.12.4")
    return {**evidence.to_dict(), **STAMP}


SCOPE = f"""
[authorisation]
owner = "exposcan tests"
reference = "TEST-SCHEMA"
expires = {(date.today() + timedelta(days=30)).isoformat()}
[scope]
site = "Example Hospital"
include = ["10.0.0.0/24"]
exclude = ["10.0.0.9"]
ports = [104, 4242]
web_ports = [8042]
"""


def header_record(**prepare: Any) -> dict[str, Any]:
    """The header the code writes: a real plan's (resolving literal addresses only)."""
    scope = parse_scope(SCOPE, source="scope.toml")
    options = ScanOptions(ae_titles=("PACS",))
    plan = asyncio.run(exposcan.prepare(scope, options=options, **prepare))
    return plan.header()


def listed_header_record() -> dict[str, Any]:
    """A scan of listed endpoints (-iL, an nmap sweep): its header names the list."""
    return header_record(endpoints=[("10.0.0.5", 104), ("10.0.0.6", 8042), ("10.0.0.7", 22)])


def resume_record() -> dict[str, Any]:
    return {
        "record": "resume",
        "scan_id": SCAN_ID,
        "site": None,
        "started_at": "2026-12-02T03:00:00+00:00",
        "finished": 12,
    }


RECORDS = {
    "scan": listed_header_record,
    "endpoint": endpoint_record,
    "evidence": evidence_record,
    "resume": resume_record,
    "summary": summary_record,
}


def test_the_schema_is_a_valid_2020_12_schema_shipped_in_the_package() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    shipped = resources.files("exposcan") / "data/report.schema.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == SCHEMA
    assert SCHEMA_RESOURCE == "data/report.schema.json"
    assert Path(str(schema_path())).is_file()


def test_the_enums_are_the_vocabularys() -> None:
    for name, enum in (
        ("status", Status),
        ("exposure", Exposure),
        ("severity", Severity),
        ("protocol", Protocol),
    ):
        assert DEFS[name]["enum"] == [str(member) for member in enum], name  # order too
    assert set(DEFS["summary"]["properties"]["exposure"]["required"]) == {str(e) for e in Exposure}


def test_the_record_kinds_are_the_readers() -> None:
    kinds = {"scan", *LATER_RECORDS}
    assert set(SCHEMA["properties"]["record"]["enum"]) == kinds
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in SCHEMA["oneOf"]} == kinds
    assert {DEFS[k]["properties"]["record"]["const"] for k in kinds} == kinds
    assert set(RECORDS) == kinds


def properties(name: str) -> set[str]:
    return set(DEFS[name]["properties"])


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("finding", Finding),
        ("accepted_risk", AcceptedRisk),
        ("fingerprint", Fingerprint),
        ("matches", Matches),
        ("tls", TlsFacts),
    ],
)
def test_each_nested_result_has_its_dataclass_fields(name: str, cls: type) -> None:
    names = {f.name for f in fields(cls)}
    assert properties(name) == names
    assert set(DEFS[name]["required"]) == names  # to_dict writes every field


def test_each_record_has_the_fields_the_code_writes() -> None:
    endpoint = {f.name for f in fields(EndpointResult)} | {"record", "severity"}
    assert properties("endpoint") == endpoint | set(STAMP)
    assert properties("evidence") == set(evidence_record())
    assert properties("summary") == set(summary_record(stopped="authorisation-expired"))
    assert properties("scan") == set(listed_header_record())
    assert set(DEFS["scan"]["required"]) == set(header_record())
    listed = DEFS["scan"]["properties"]["endpoints_from"]
    assert set(listed["properties"]) == set(listed_header_record()["endpoints_from"])
    options = DEFS["scan"]["properties"]["options"]
    assert set(options["properties"]) == set(ScanOptions().to_dict())
    assert properties("resume") == set(resume_record())


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_records_the_code_builds_validate(kind: str) -> None:
    assert errors(RECORDS[kind]()) == []


def test_a_header_without_an_endpoint_list_validates() -> None:
    header = header_record(targets=["10.0.0.5"])
    assert "endpoints_from" not in header
    assert errors(header) == []
    assert errors({**header, "endpoints_from": {"format": "shodan"}})


def test_a_stopped_summary_validates_and_needs_its_count() -> None:
    stopped = summary_record(stopped="authorisation-expired")
    assert errors(stopped) == []
    del stopped["endpoints_not_started"]
    assert errors(stopped)
    assert errors({**summary_record(), "stopped": "bored"})


def requireds(schema: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every required field's path in a record definition (nested objects included)."""
    found: list[tuple[str, ...]] = []
    for name in schema.get("required", ()):
        found.append((*path, name))
        child = schema["properties"][name]
        if child.get("type") == "object":
            found += requireds(child, (*path, name))
    return found


def without(record: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    broken = copy.deepcopy(record)
    holder = broken
    for key in path[:-1]:
        holder = holder[key]
    del holder[path[-1]]
    return broken


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_a_record_missing_any_required_field_fails(kind: str) -> None:
    record = RECORDS[kind]()
    paths = requireds(DEFS[kind])
    assert len(paths) >= 5
    for path in paths:
        assert errors(without(record, path)), path


def test_a_nested_result_missing_a_field_fails() -> None:
    record = endpoint_record()
    for part in ("fingerprint", "matches", "tls"):
        for name in DEFS[part]["required"]:
            broken = copy.deepcopy(record)
            del broken[part][name]
            assert errors(broken), (part, name)
    broken = copy.deepcopy(record)
    del broken["findings"][0]["accepted"]["reason"]
    assert errors(broken)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("status", "refused"),
        ("exposure", "critical"),
        ("protocol", "dicom"),
        ("severity", "severe"),
        ("port", 0),
        ("port", 65536),
        ("scan_id", "not-a-uuid"),
        ("findings", [{"id": "Not An Id"}]),
        ("something_new", 1),
    ],
)
def test_a_value_outside_the_contract_fails(change: str, value: Any) -> None:
    assert errors({**endpoint_record(), change: value})


def test_an_unknown_record_kind_fails() -> None:
    assert errors({**endpoint_record(), "record": "endpoints"})
    assert errors({"record": "scan"})

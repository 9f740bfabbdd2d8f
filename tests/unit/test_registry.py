"""What a registration brings to the closed vocabularies: its protocols (declared in
Protocol, known to from_dict) and its catalogue entries (the registry's catalogue, one
rule per id). Pure: local registries, no sockets; the end-to-end run of a registered toy
probe is tests/network/test_toy_probe.py."""

from __future__ import annotations

import pickle

import pytest

from exposcan import findings
from exposcan.decoding import RecordError
from exposcan.probes.registry import PROBES, Registration, Registry
from exposcan.results import EndpointResult
from exposcan.rules import Rule, Table, markdown
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

ENTRY = Rule("unit-toy-open", Severity.HIGH, "A unit toy answers strangers", "Close it.")
QUIET = Rule("unit-toy-quiet", Severity.INFO, "A unit toy said nothing")


def toy(kind: str, protocol: str, *rules: Rule) -> Registration:
    return Registration(
        kind, ports=f"{kind}_ports", planned=protocol, found={protocol}, load="x:y", findings=rules
    )


def test_a_registration_declares_its_protocol_and_iteration_stays_the_built_ins() -> None:
    with pytest.raises(ValueError, match="not a valid Protocol"):
        Protocol("unit-toy-line")
    registration = toy("unit-a", "unit-toy-line")
    declared = Protocol("unit-toy-line")
    assert registration.planned is declared
    assert registration.found == frozenset({declared})
    assert isinstance(declared, Protocol)
    assert declared == "unit-toy-line"
    assert Protocol.declare("unit-toy-line") is declared  # the one object
    assert pickle.loads(pickle.dumps(declared)) is declared
    assert declared in Protocol.known()
    assert list(Protocol) == [Protocol.DIMSE, Protocol.DIMSE_TLS, Protocol.HTTP, Protocol.HTTPS]
    assert Protocol.declare("http") is Protocol.HTTP  # a built-in stays itself


def test_found_is_a_set_of_names_never_one_name_read_letter_by_letter() -> None:
    with pytest.raises(TypeError, match="a set of protocol names"):
        Registration("unit-z", "unit-z_ports", "unit-toy-z", "unit-toy-z", "x:y")
    assert "u" not in map(str, Protocol.known())


@pytest.mark.parametrize("name", ["", "Echo", "echo line", "-echo", "echo-", "a" * 33, "é"])
def test_a_protocol_name_is_the_reports_kind_of_word(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a protocol"):
        Protocol.declare(name)


def test_from_dict_knows_a_declared_protocol_and_refuses_any_other() -> None:
    toy("unit-b", "unit-toy-frame")
    record = EndpointResult(
        host="127.0.0.1",
        port=7,
        protocol=Protocol("unit-toy-frame"),
        status=Status.SUCCESS,
        exposure=Exposure.ECHO,
        findings=(ENTRY.found("a count"),),
    ).to_dict()
    result = EndpointResult.from_dict(record)
    assert result.protocol is Protocol("unit-toy-frame")
    assert EndpointResult.from_dict(result.to_dict()) == result
    with pytest.raises(RecordError, match="protocol: 'unit-toy-frames' is not one of"):
        EndpointResult.from_dict({**record, "protocol": "unit-toy-frames"})


def test_a_registrations_entries_join_the_registrys_catalogue_in_order() -> None:
    registry = Registry(catalogue=findings.BUILT_IN)
    registry.register(toy("unit-c", "unit-toy-c", ENTRY, QUIET))
    assert list(registry.catalogue)[: len(findings.BUILT_IN)] == [e.id for e in findings.BUILT_IN]
    assert list(registry.catalogue)[-2:] == ["unit-toy-open", "unit-toy-quiet"]
    assert registry.catalogue["unit-toy-open"] is ENTRY
    assert registry.protocols() == (Protocol("unit-toy-c"),)
    # The page docs/findings.md is made of covers them, after the built-in entries.
    page = markdown(registry.catalogue)
    assert "| `unit-toy-open` | high | A unit toy answers strangers |" in page
    assert "Remediation: Close it." in page
    assert page.index("## `web-viewer-present`") < page.index("## `unit-toy-open`")
    # The scan's registry is untouched: another registry's probe is not the scan's.
    assert "unit-toy-open" not in findings.CATALOGUE
    assert "unit-toy-open" not in PROBES.catalogue


def test_an_id_with_another_severity_is_refused_and_nothing_is_added() -> None:
    registry = Registry(catalogue=findings.BUILT_IN)
    other = Rule("dicom-query-matches", Severity.LOW, "A quieter query finding")
    with pytest.raises(ValueError, match="'dicom-query-matches' is catalogued otherwise"):
        registry.register(toy("unit-d", "unit-toy-d", ENTRY, other))
    assert [r.kind for r in registry] == []
    assert "unit-toy-open" not in registry.catalogue  # refused whole, not half
    assert registry.catalogue["dicom-query-matches"].severity is Severity.CRITICAL
    twice = Rule("unit-toy-open", Severity.LOW, "A unit toy answers strangers")
    with pytest.raises(ValueError, match="catalogued otherwise"):
        Registry().register(toy("unit-e", "unit-toy-e", ENTRY, twice))


def test_the_same_entry_may_come_with_two_probes() -> None:
    """The TLS findings: both built-in probes make them, from the one entry object."""
    registry = Registry()
    registry.register(toy("unit-f", "unit-toy-f", ENTRY))
    registry.register(toy("unit-g", "unit-toy-g", ENTRY, QUIET))
    assert list(registry.catalogue) == ["unit-toy-open", "unit-toy-quiet"]


def test_the_scan_registry_holds_the_built_in_table_and_each_probe_brings_its_part() -> None:
    assert tuple(PROBES.catalogue.values()) == findings.BUILT_IN
    assert dict(findings.CATALOGUE) == dict(PROBES.catalogue)
    assert list(findings.CATALOGUE) == [e.id for e in findings.BUILT_IN]  # docs' order
    assert PROBES.protocols() == tuple(Protocol)
    web, dicom = PROBES
    assert {e.id for e in web.findings} | {e.id for e in dicom.findings} == set(PROBES.catalogue)
    assert all(e.id.startswith(("web-", "tls-")) for e in web.findings)
    assert all(e.id.startswith(("dicom-", "tls-")) for e in dicom.findings)
    shared = {e.id for e in web.findings} & {e.id for e in dicom.findings}
    assert shared == {e.id for e in findings.BUILT_IN if e.id.startswith("tls-")}
    assert findings.rule("dicom-query-matches") is findings.DICOM_QUERY_MATCHES
    assert findings.rule("no-such-finding") is None


def test_an_entry_is_checked_as_it_is_written() -> None:
    with pytest.raises(ValueError, match="cannot be a finding id"):
        Rule("Not An Id", Severity.INFO, "title")
    with pytest.raises(ValueError, match="a severity and a title"):
        Rule("unit-toy-untitled", Severity.INFO, "")
    table = Table()
    table.entry("unit-toy-h", Severity.INFO, "once")
    with pytest.raises(ValueError, match="catalogued twice"):
        table.entry("unit-toy-h", Severity.LOW, "twice")
    assert [r.id for r in table.rules()] == ["unit-toy-h"]

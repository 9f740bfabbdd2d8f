"""A new probe is one package plus one registration line: the echo-line toy
(tests/support/toyprobe) brings its protocol, its catalogue entries and its port list
(``echo_ports``) through its registration alone; its ports are given as a user gives
them (the scope file's key, ``ScanOptions.more_ports``), :func:`exposcan.prepare` plans
and runs it against loopback listeners, the report resumes and reads back. It runs in a
fresh interpreter (:mod:`tests.support.toyprobe.trial`): a registration is for the
process, and this one must not reach the other tests'. The command line's
``--ports-for``: tests/cli/test_toy_probe_cli.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import exposcan
from exposcan import findings
from exposcan.errors import ReportError
from exposcan.report.sarif import SECURITY_SEVERITY
from exposcan.vocabulary import Protocol
from tests.support.toyprobe.findings import ECHO_LINE_REPEATS, ECHO_LINE_SILENT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    report = tmp_path_factory.mktemp("toy") / "toy.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.toyprobe.trial", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), report


def test_the_toy_probe_runs_through_prepare_by_its_registration(trial) -> None:
    seen, _ = trial
    ports = seen["ports"]
    assert seen["kinds"] == ["web", "dicom", "echo"]  # appended by its one line
    # Its own port list, from the scope file's echo_ports narrowed by more_ports (the
    # spare port is authorised, not asked for), planned and counted as ports are.
    own = [ports[k] for k in ("repeats", "mute", "closed")]
    assert seen["plan_port_lists"] == {"ports": [], "web_ports": [], "echo_ports": own}
    assert seen["plan_total"] == seen["header_endpoints"] == seen["summary_done"] == 3
    assert seen["whole_total"] == 4  # the scope's whole list: the spare port too
    assert seen["header_ports"] == {"ports": [], "web_ports": [], "echo_ports": own}
    assert seen["header_schema_errors"] == []  # the schema knows a registered list's key
    assert seen["accepted"] == ["mute", "repeats"]  # one connection each; the closed port none
    by_port = {r["port"]: r for r in seen["results"]}
    assert set(by_port) == set(own)
    assert {r["protocol"] for r in seen["results"]} == {"echo-line"}
    repeats, mute, closed = (by_port[ports[k]] for k in ("repeats", "mute", "closed"))
    assert (repeats["status"], repeats["exposure"]) == ("success", "echo")
    assert (mute["status"], mute["exposure"]) == ("success", "none")
    assert (closed["status"], closed["findings"]) == ("connection-refused", [])
    assert seen["skip_key"] == ["127.0.0.1", ports["repeats"], "echo"]


def test_resume_knows_its_endpoints_by_its_own_kind(trial) -> None:
    seen, _ = trial
    assert seen["resume_finished"] == sorted(
        ["127.0.0.1", seen["ports"][k], "echo"] for k in ("repeats", "mute", "closed")
    )
    assert seen["resumed_total"] == seen["resumed_results"] == 0
    assert seen["accepted"] == ["mute", "repeats"]  # the resumed plan connected nowhere


def test_resume_compares_its_port_list_as_it_compares_ports(trial) -> None:
    seen, _ = trial
    assert seen["refused_same"] is None
    ports_differ = "its targets, endpoint list or ports differ from this scan's"
    # The scope's whole echo_ports list, or a narrower selection: another scan.
    assert seen["refused_whole"].endswith(ports_differ)
    assert seen["refused_narrower"].endswith(ports_differ)
    # Its own report with the header's echo_ports cut: that header lists none, this scan
    # three, so it is refused too (an absent list is an empty one).
    assert seen["refused_cut_header"].endswith(ports_differ)


def test_a_header_from_before_port_lists_of_its_own_resumes(trial) -> None:
    """A report written before a probe's own port list was recorded has no key for it:
    it resumes a scan that takes none of that list's ports (whose header says [])."""
    seen, _ = trial
    assert seen["new_header_list"] == []
    assert seen["refused_old_header"] is None


def test_its_findings_are_made_from_its_own_catalogue_entries(trial) -> None:
    seen, _ = trial
    ports = seen["ports"]
    by_port = {r["port"]: r for r in seen["results"]}
    for port, entry in ((ports["repeats"], ECHO_LINE_REPEATS), (ports["mute"], ECHO_LINE_SILENT)):
        [finding] = by_port[port]["findings"]
        assert finding["id"] == entry.id
        assert finding["severity"] == str(entry.severity)
        assert finding["title"] == entry.title
        assert finding["remediation"] == entry.remediation
    assert seen["finding_fields_are_the_catalogues"] is True
    # The registry's catalogue: the built-in table first, then the toy's, by registration.
    assert seen["catalogue_tail"] == ["echo-line-repeats", "echo-line-silent"]
    assert seen["catalogue_size"] == seen["built_in_size"] + 2
    assert seen["built_in_size"] == len(findings.BUILT_IN)
    assert seen["summary_findings"] == {"echo-line-repeats": 1, "echo-line-silent": 1}
    assert seen["summary_exposure"]["echo"] == 1


def test_the_findings_page_covers_registered_entries(trial) -> None:
    seen, _ = trial
    page = seen["page"]
    # docs/findings.md is the built-in page; a registered probe's entries follow it.
    built_in = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert page != built_in
    assert "| `echo-line-repeats` | medium | The echo-line service repeats" in page
    assert f"Remediation: {ECHO_LINE_REPEATS.remediation}" in page
    assert "## `echo-line-silent`" in page
    assert page.index("## `web-viewer-present`") < page.index("## `echo-line-repeats`")
    assert "echo-line" not in built_in


def test_its_result_reads_back_and_its_protocol_stays_a_closed_word(trial) -> None:
    seen, _ = trial
    assert seen["read_back_equal"] is True
    assert seen["read_back_protocol_is_declared"] is True
    # Known from the registration on, to the vocabulary and the schema; iteration is the
    # built-ins' (the enum's fixed members).
    assert seen["protocols_known"] == [*map(str, Protocol), "echo-line"]
    assert seen["enum_members"] == [str(p) for p in Protocol]
    assert seen["schema_protocols"] == ["dimse", "dimse-tls", "http", "https", "echo-line"]
    assert seen["schema_errors"] == [[], [], []]
    # Still closed: a protocol nobody registered fails the schema and from_dict.
    assert seen["schema_errors_unknown"]
    # ... and its message names every protocol registered probes declared, the toy's too.
    assert seen["from_dict_unknown"] == (
        "protocol: 'echo-lines' is not one of dimse, dimse-tls, http, https, echo-line"
    )


def test_without_the_registration_the_report_does_not_read(trial) -> None:
    """This interpreter never ran the toy's registration line: its protocol is unknown
    here, so the same report is one ReportError line, not a result."""
    _, report = trial
    assert "echo-line" not in map(str, Protocol.known())
    with pytest.raises(ReportError, match=r"line 2: protocol: 'echo-line' is not one of"):
        exposcan.read_report(report)


def test_every_report_format_takes_its_results_and_sarif_rules_are_its_entries(trial) -> None:
    seen, _ = trial
    assert set(seen["formats"]) == {"jsonl", "json", "csv", "sarif", "html", "defectdojo"}
    assert all(size > 0 for size in seen["formats"].values()), seen["formats"]
    assert seen["sarif_rules"] == {
        e.id: [e.title, SECURITY_SEVERITY[e.severity]]
        for e in (ECHO_LINE_REPEATS, ECHO_LINE_SILENT)
    }
    ports = seen["ports"]
    # An endpoint of a registered protocol is named by the protocol as its URI scheme.
    assert seen["sarif_uris"] == sorted(
        f"echo-line://127.0.0.1:{ports[k]}" for k in ("repeats", "mute")
    )

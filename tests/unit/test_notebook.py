"""What a notebook sees: short reprs, report.write(), report.to_frame(), the opt-in
progress display. Reports are built from result objects: no socket."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

import exposcan
from exposcan.errors import OptionError, OutputError, UserError
from exposcan.frame import COLUMNS, PANDAS_HINT
from exposcan.notebook import ProgressDisplay, describe, progress
from exposcan.results import AcceptedRisk, EndpointResult, Finding, Fingerprint, Matches
from exposcan.summary import Progress, ScanReport, SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

SCAN_ID = "1b2c3d4e-0000-4000-8000-000000000001"


def _finding(id: str = "dicom-query-matches", severity: Severity = Severity.CRITICAL) -> Finding:
    return Finding(id=id, severity=severity, title="A title", evidence="3 matches")


def _query(port: int = 11112, host: str = "127.0.0.1") -> EndpointResult:
    return EndpointResult(
        host=host,
        port=port,
        protocol=Protocol.DIMSE,
        status=Status.SUCCESS,
        exposure=Exposure.QUERY,
        ae_title="ANY-SCP",
        findings=(_finding(), _finding("dicom-ae-title-not-checked", Severity.MEDIUM)),
        fingerprint=Fingerprint(product="Orthanc", version="1.12.1"),
        matches=Matches(count=3, cap=100, cap_hit=False),
        duration_s=0.25,
        probed_at="2026-12-02T15:00:01.250+00:00",
    )


def _closed(port: int = 104) -> EndpointResult:
    return EndpointResult(
        host="127.0.0.1",
        port=port,
        protocol=Protocol.DIMSE,
        status=Status.CONNECTION_REFUSED,
        exposure=Exposure.NONE,
        probed_at="2026-12-02T15:00:02.000+00:00",
    )


def _report(*results: EndpointResult) -> ScanReport:
    builder = SummaryBuilder(started_at="2026-12-02T15:00:00+00:00", total=len(results))
    for result in results:
        builder.add(result)
    summary = builder.build(
        finished_at="2026-12-02T15:00:05+00:00", duration_s=5.0, interrupted=False
    )
    header = {
        "record": "scan",
        "scan_id": SCAN_ID,
        "site": "north wing",
        "started_at": summary.started_at,
        "endpoints": len(results),
        "ports": sorted({r.port for r in results}),  # what read_report checks records against
        "web_ports": [],
    }
    return ScanReport(header=header, results=results, summary=summary)


# --- reprs -------------------------------------------------------------------------


def test_endpoint_result_repr_is_one_short_line():
    assert repr(_query()) == "<EndpointResult 127.0.0.1:11112 dimse query (critical) 2 findings>"
    assert repr(_closed()) == "<EndpointResult 127.0.0.1:104 dimse none (none) 0 findings>"
    v6 = EndpointResult(
        host="::1",
        port=4242,
        protocol=Protocol.HTTP,
        status=Status.SUCCESS,
        exposure=Exposure.ECHO,
        findings=(_finding("x-y", Severity.MEDIUM),),
    )
    assert repr(v6) == "<EndpointResult [::1]:4242 http echo (medium) 1 finding>"


def test_finding_repr_names_id_severity_title_and_acceptance():
    finding = _finding()
    assert repr(finding) == "<Finding dicom-query-matches critical: A title>"
    accepted = Finding(
        id="dicom-query-matches",
        severity=Severity.CRITICAL,
        title="A title",
        evidence="e",
        accepted=AcceptedRisk(reason="research PACS", expires="2027-01-31"),
    )
    assert repr(accepted) == "<Finding dicom-query-matches critical accepted: A title>"


def test_report_and_summary_reprs():
    report = _report(_query(), _closed())
    assert repr(report) == "<ScanReport 2 endpoints, 1 exposed, scan 1b2c\u2026, 2026-12-02T15:00Z>"
    assert repr(report.summary) == "<Summary 2/2 endpoints, 1 exposed (none 1, query 1), 5 s>"
    interrupted = SummaryBuilder(started_at="", total=3).build(
        finished_at="", duration_s=1.5, interrupted=True
    )
    assert repr(interrupted) == "<Summary 0/3 endpoints, 0 exposed (none), 1.5 s interrupted>"
    no_id = ScanReport(header={}, results=(), summary=interrupted)
    assert repr(no_id) == "<ScanReport 0 endpoints, 0 exposed>"


def test_reprs_leave_equality_and_hashing_as_they_were():
    one, two = _query(), _query()
    assert one == two
    assert hash(one) == hash(two)
    slower = EndpointResult.from_dict({**one.to_dict(), "duration_s": 9.0})
    assert repr(slower) == repr(one)  # the repr is short: not every field
    assert slower != one
    assert hash(_finding()) == hash(_finding())
    assert _finding() != _finding(severity=Severity.HIGH)
    assert _report(one) == _report(two)


def test_summary_counts_are_keyed_by_plain_str():
    summary = _report(_query(), _closed()).summary
    for counts in (summary.exposure, summary.status, summary.findings):
        assert counts
        assert all(type(key) is str for key in counts)


# --- write and to_frame ----------------------------------------------------------------


def test_write_then_read_back(tmp_path: Path):
    report = _report(_query(), _closed())
    target = tmp_path / "scan.jsonl"
    report.write(target)  # format defaults to jsonl
    back = exposcan.read_report(target)
    assert back.results == report.results
    assert back.header["scan_id"] == SCAN_ID
    report.write(tmp_path / "scan.csv", format="csv")
    assert (tmp_path / "scan.csv").read_text(encoding="utf-8").count("127.0.0.1") == 2


def test_write_refuses_an_unknown_format_and_an_unwritable_path(tmp_path: Path):
    report = _report(_closed())
    with pytest.raises(OptionError, match="unknown report format 'xlsx'"):
        report.write(tmp_path / "scan.xlsx", format="xlsx")
    assert not (tmp_path / "scan.xlsx").exists()
    with pytest.raises(OutputError) as caught:
        report.write(tmp_path / "missing" / "scan.jsonl")
    assert isinstance(caught.value, UserError)
    assert "\n" not in str(caught.value)


def test_to_frame_one_row_per_endpoint():
    import pandas as pd  # a test dependency: missing, this test fails (never skips)

    frame = _report(_query(), _closed()).to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 2
    first = frame.iloc[0]
    assert (first.host, first.port, first.protocol, first.exposure) == (
        "127.0.0.1",
        11112,
        "dimse",
        "query",
    )
    assert (first.severity, first.ae_title, first["product"], first.version) == (
        "critical",
        "ANY-SCP",
        "Orthanc",
        "1.12.1",
    )
    assert first.findings == ["dicom-query-matches", "dicom-ae-title-not-checked"]
    assert (first.site, first.scan_id) == ("north wing", SCAN_ID)
    assert frame["matches"].tolist()[0] == 3
    assert pd.isna(frame["matches"].tolist()[1])
    assert str(frame["probed_at"].dtype).startswith("datetime64")
    assert frame["probed_at"].iloc[1] == pd.Timestamp("2026-12-02T15:00:02Z")
    assert frame[frame.exposure == "query"].port.tolist() == [11112]


def test_to_frame_without_pandas_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError) as caught:
        _report(_closed()).to_frame()
    assert str(caught.value) == PANDAS_HINT
    assert "pip install 'exposcan[pandas]'" in str(caught.value)


# --- the progress display --------------------------------------------------------------


def _snapshot(done: int, total: int = 3, **by: int) -> Progress:
    return Progress(
        total=total,
        done=done,
        in_flight=0,
        elapsed_s=done * 1.0,
        by_exposure={Exposure(k): n for k, n in by.items()},
    )


def test_describe_counts_only():
    line = describe(_snapshot(2, none=1, echo=1))
    assert line == "2/3 endpoints, 1 exposed (echo 1), 2.0 s"
    assert describe(_snapshot(1, none=1)) == "1/3 endpoints, 0 exposed, 1.0 s"


def test_text_display_throttles_and_shows_the_last():
    now = [0.0]
    out = io.StringIO()
    show = progress("text", stream=out, every_s=10, clock=lambda: now[0])
    show(_snapshot(1, none=1))
    now[0] = 1.0
    show(_snapshot(2, none=1, query=1))  # within 10 s: not shown
    now[0] = 2.0
    show(_snapshot(3, none=1, query=1, store=1))  # the last: shown, and the display closes
    show(_snapshot(3, none=3))  # after close: ignored
    assert out.getvalue().splitlines() == [
        "exposcan: 1/3 endpoints, 0 exposed, 1.0 s",
        "exposcan: 3/3 endpoints, 2 exposed (store 1, query 1), 3.0 s",
    ]
    assert show.last is not None
    assert show.last.done == 3


def test_rich_display_renders_the_bar():
    out = io.StringIO()
    with progress("rich", stream=out, description="lab") as show:
        show(_snapshot(1, none=1))
        show(_snapshot(2, none=1, echo=1))
    text = out.getvalue()
    assert "lab" in text
    assert "2/3" in text
    assert "1 exposed" in text


class FakeHandle:
    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, obj: object) -> None:
        self.shown.append(str(obj))


def test_ipython_display_updates_one_handle():
    handle = FakeHandle()
    show = progress(handle=handle)  # auto: a handle given means IPython
    show(_snapshot(1, none=1))
    show(_snapshot(3, none=1, query=2))
    assert handle.shown == [
        "exposcan: 1/3 endpoints, 0 exposed, 1.0 s",
        "exposcan: 3/3 endpoints, 2 exposed (query 2), 3.0 s",
    ]


def _fake_ipython(monkeypatch: pytest.MonkeyPatch, *, kernel: bool) -> list[object]:
    """An IPython in sys.modules whose shell has a kernel (Jupyter) or not (a terminal)."""
    import types

    shown: list[object] = []
    handle = FakeHandle()

    def display(obj: object, display_id: bool = False) -> FakeHandle:
        assert display_id is True
        shown.append(obj)
        return handle

    shell = types.SimpleNamespace(**({"kernel": object()} if kernel else {}))
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    shown.append(handle)
    return shown


def test_auto_in_a_jupyter_kernel_uses_one_display_handle(monkeypatch: pytest.MonkeyPatch):
    handle, *_ = shown = _fake_ipython(monkeypatch, kernel=True)
    out = io.StringIO()
    show = progress(stream=out)
    show(_snapshot(3, none=2, echo=1))
    assert out.getvalue() == ""  # nothing on the stream: the cell's display has it
    assert repr(shown[1]) == "exposcan: starting"  # shown unquoted, as text
    assert isinstance(handle, FakeHandle)
    assert handle.shown == ["exposcan: 3/3 endpoints, 1 exposed (echo 1), 3.0 s"]


def test_auto_in_a_terminal_ipython_is_not_the_display(monkeypatch: pytest.MonkeyPatch):
    handle, *_ = _fake_ipython(monkeypatch, kernel=False)
    out = io.StringIO()
    progress(stream=out)(_snapshot(3, none=3))
    assert out.getvalue() == "exposcan: 3/3 endpoints, 0 exposed, 3.0 s\n"
    assert isinstance(handle, FakeHandle)
    assert handle.shown == []


def test_auto_off_a_terminal_and_outside_ipython_is_text(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    out = io.StringIO()
    show = progress(stream=out)
    assert isinstance(show, ProgressDisplay)
    show(_snapshot(3, none=3))
    assert out.getvalue() == "exposcan: 3/3 endpoints, 0 exposed, 3.0 s\n"
    with pytest.raises(RuntimeError, match="no IPython kernel"):
        progress("ipython")
    with pytest.raises(ValueError, match="progress kind"):
        progress("tqdm")  # type: ignore[arg-type]


def test_notebook_is_a_lazy_public_submodule():
    assert "notebook" in dir(exposcan)
    assert exposcan.notebook.progress is progress

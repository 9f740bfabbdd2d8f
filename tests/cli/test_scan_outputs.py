"""Several formats from one scan: ``--output-all BASE`` (``-oA``) and ``--also FORMAT=PATH``.

BASE.jsonl is streamed (the source of truth, resumable); every other format is rendered
from it once the scan is over, so they agree with it; a resumed scan's documents hold
every run; an interrupted scan leaves what was at the documents' paths."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from exposcan.lab import free_port, running_lab
from exposcan.report import FORMATS
from exposcan.report.tee import document_path
from tests.support.cli_child import FAST, run
from tests.support.oddfiles import RUN_TIMEOUT, HoldingPeer, env, wait_for

#: Far enough that no "authorisation expires soon" warning joins stderr.
LATER = date.today() + timedelta(days=60)


@pytest.fixture
def lab_scope(tmp_path):
    with running_lab() as lab:
        path = tmp_path / "lab.toml"
        path.write_text(lab.scope_toml(days=60), encoding="utf-8")
        yield path


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def endpoints_of(fmt: str, path: Path) -> set[tuple[str, int]] | int:
    """What a document says about the endpoints: their (host, port), or for the formats of
    findings (SARIF, DefectDojo) how many findings it lists."""
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        return {(e["host"], e["port"]) for e in json.loads(text)["endpoints"]}
    if fmt == "csv":
        return {(r["host"], int(r["port"])) for r in csv.DictReader(text.splitlines())}
    if fmt == "sarif":
        return len(json.loads(text)["runs"][0]["results"])
    if fmt == "defectdojo":
        return len(json.loads(text)["findings"])
    raise AssertionError(fmt)


def assert_agree(base: str, records: list[dict]) -> None:
    endpoints = [r for r in records if r["record"] == "endpoint"]
    pairs = {(e["host"], e["port"]) for e in endpoints}
    findings = sum(len(e["findings"]) for e in endpoints)
    scan_id = records[0]["scan_id"]
    assert len(pairs) == len(endpoints) > 0
    for fmt in FORMATS:
        path = Path(document_path(base, fmt))
        assert path.is_file(), path
        if fmt in ("json", "csv"):
            assert endpoints_of(fmt, path) == pairs, fmt
        elif fmt in ("sarif", "defectdojo"):
            assert endpoints_of(fmt, path) == findings, fmt
        elif fmt == "html":
            page = path.read_text(encoding="utf-8")
            assert scan_id in page
            for _, port in pairs:
                assert str(port) in page
    assert json.loads(Path(document_path(base, "json")).read_text())["scan"]["scan_id"] == scan_id


@pytest.mark.parametrize("flag", ["--output-all", "-oA"])
def test_output_all_writes_every_format_and_they_agree(lab_scope, tmp_path, flag):
    base = str(tmp_path / "weekly")
    proc = run("scan", "--scope", str(lab_scope), flag, base, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    records = jsonl(Path(base + ".jsonl"))
    assert records[-1]["record"] == "summary"
    assert_agree(base, records)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("weekly")) == sorted(
        Path(document_path(base, f)).name for f in FORMATS
    )  # no temporary file left beside them


def test_also_writes_each_named_document_beside_stdout(lab_scope, tmp_path):
    page, table = tmp_path / "r.html", tmp_path / "r.csv"
    proc = run(
        "scan",
        "--scope",
        str(lab_scope),
        "--format",
        "json",
        "--also",
        f"html={page}",
        "--also",
        f"csv={table}",
        *FAST,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    pairs = {(e["host"], e["port"]) for e in document["endpoints"]}
    assert endpoints_of("csv", table) == pairs
    assert document["scan"]["scan_id"] in page.read_text(encoding="utf-8")


def test_a_resumed_scan_writes_documents_of_every_run(lab_scope, tmp_path):
    base = str(tmp_path / "scan")
    first = run("scan", "--scope", str(lab_scope), "-oA", base, *FAST)
    assert first.returncode == 0, first.stderr
    for fmt in FORMATS:
        if fmt != "jsonl":
            Path(document_path(base, fmt)).unlink()
    again = run("scan", "--scope", str(lab_scope), "-oA", base, "--resume", *FAST)
    assert again.returncode == 0, again.stderr
    records = jsonl(Path(base + ".jsonl"))
    assert [r["record"] for r in records].count("resume") == 1
    assert_agree(base, records)  # every endpoint is the first run's: all in the documents


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-oA", "{t}/b", "-o", "{t}/x.jsonl"], "--output or --output-all"),
        (["--output-all", "{t}/b", "--format", "html"], "leave out --format"),
        (["--also", "html"], "FORMAT=PATH"),
        (["--also", "pdf={t}/r.pdf"], "is not one of"),
        (["--also", "html=-"], "stdout"),
        (["-o", "{t}/r.html", "--format", "html", "--also", "html={t}/r.html"], "two outputs"),
        (["-oA", "{t}/b", "--also", "csv={t}/b.csv"], "two outputs"),
        (["-o", "{t}/r.jsonl", "--also", "html={t}/missing/r.html"], "cannot write report"),
    ],
)
def test_contradictory_outputs_are_one_line_and_write_nothing(tmp_path, write_scope, extra, words):
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    scope = write_scope(["127.0.0.1"], [free_port()], expires=LATER)
    proc = run("scan", "--scope", str(scope), *(w.format(t=earlier) for w in extra))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert list(earlier.iterdir()) == []


def test_an_unwritable_document_keeps_the_earlier_jsonl(tmp_path, write_scope):
    """The documents are opened before the report (which truncates): the error comes
    first and the earlier report is untouched."""
    report = tmp_path / "r.jsonl"
    report.write_text("earlier\n", encoding="utf-8")
    scope = write_scope(["127.0.0.1"], [free_port()])
    bad = tmp_path / "missing" / "r.html"
    proc = run("scan", "--scope", str(scope), "-o", str(report), "--also", f"html={bad}")
    assert proc.returncode == 2, proc.stderr
    assert report.read_text(encoding="utf-8") == "earlier\n"


def test_an_interrupted_scan_leaves_the_earlier_documents(tmp_path, write_scope):
    holding = HoldingPeer("127.0.0.1")  # never answers: the scan is in flight when signalled
    try:
        scope = write_scope(["127.0.0.1"], [holding.port])
        base = str(tmp_path / "b")
        for fmt in FORMATS:
            if fmt != "jsonl":
                Path(document_path(base, fmt)).write_text("earlier", encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "exposcan", "scan", "--scope", str(scope), "-oA", base],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        try:
            assert wait_for(holding.request_arrived)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        holding.close()
    assert proc.returncode == 130, stderr
    for fmt in FORMATS:
        if fmt != "jsonl":
            assert Path(document_path(base, fmt)).read_text(encoding="utf-8") == "earlier"
    assert jsonl(Path(base + ".jsonl"))[-1]["interrupted"] is True
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_oa_is_one_word_and_o_keeps_its_attached_value():
    from exposcan.cli import build_parser

    parser = build_parser()
    joined = parser.parse_args(["scan", "--scope", "s.toml", "-oAx.jsonl"])
    assert (joined.output, joined.output_all) == ("Ax.jsonl", None)
    spaced = parser.parse_args(["scan", "--scope", "s.toml", "-oA", "weekly"])
    assert (spaced.output, spaced.output_all) == (None, "weekly")
    also = parser.parse_args(["scan", "--scope", "s.toml", "--also", "sarif=a=b.sarif"])
    assert also.also == [("sarif", "a=b.sarif")]  # the first "=" splits: paths may hold one

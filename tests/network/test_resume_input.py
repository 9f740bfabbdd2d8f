"""--resume reads a report someone may have edited, cut or replaced: every malformed
file is one OutputError line naming the problem, never another exception; whole lines
only (a torn last line is cut, by both JSONL readers alike)."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exposcan.errors import OutputError
from exposcan.report import read_jsonl
from exposcan.report.lines import BadRecord, whole_lines
from exposcan.report.resume import load_resume

OPTIONS = {
    "ports": None,
    "called_ae_title": "ANY-SCP",
    "calling_ae_title": "EXPOSCAN",
    "find": True,
    "max_matches": 100,
    "tls_ports": [2762],
    "try_default_credentials": False,
}
HEADER: dict[str, Any] = {
    "record": "scan",
    "scope": {"digest": "sha256:abc"},
    "targets": [],
    "ports": [104, 11112],
    "web_ports": [8042],
    "options": OPTIONS,
}
ENDPOINT: dict[str, Any] = {
    "record": "endpoint",
    "host": "127.0.0.1",
    "port": 104,
    "protocol": "dimse",
    "status": "success",
    "exposure": "echo",
    "findings": [{"id": "dicom-echo-unauthenticated", "severity": "medium"}],
}
TARGETS = {"127.0.0.1", "127.0.0.2"}


def line(record: object) -> bytes:
    return json.dumps(record).encode() + b"\n"


def report(tmp_path: Path, *records: object, tail: bytes = b"") -> Path:
    path = tmp_path / "report.jsonl"
    path.write_bytes(b"".join(r if isinstance(r, bytes) else line(r) for r in records) + tail)
    return path


def refused(path: Path, *words: str) -> str:
    with pytest.raises(OutputError) as caught:
        load_resume(path, HEADER, targets=TARGETS)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.isprintable(), message
    assert message.startswith("cannot resume"), message
    for word in words:
        assert word in message, message
    return message


def test_a_good_report_resumes(tmp_path):
    other = {**ENDPOINT, "host": "127.0.0.2", "port": 8042, "protocol": "http", "findings": []}
    path = report(tmp_path, HEADER, ENDPOINT, {"record": "summary"}, {"record": "resume"}, other)
    state = load_resume(path, HEADER, targets=TARGETS)
    assert state.finished == {("127.0.0.1", 104, "dicom"), ("127.0.0.2", 8042, "web")}
    assert [p.exposure for p in state.previous] == ["echo", "echo"]
    assert state.previous[0].findings == ("dicom-echo-unauthenticated",)
    assert state.good_bytes == path.stat().st_size


def test_a_torn_last_line_is_cut_even_when_it_parses(tmp_path):
    """A line counts once its newline is written: an unterminated last line is torn, and
    both readers leave it out, whether or not its bytes happen to be JSON."""
    whole = line(HEADER)
    for torn in (b'{"record":"endp', json.dumps(ENDPOINT).encode()):
        path = report(tmp_path, HEADER, tail=torn)
        state = load_resume(path, HEADER, targets=TARGETS)
        assert state.finished == set()
        assert state.good_bytes == len(whole)
        assert [r["record"] for r in read_jsonl(path)] == ["scan"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe\x00garbage\n", ("line 1", "not UTF-8")),
        (line(HEADER) + b'{"record": "endpoint", "host": "\xc3\x28"}\n', ("line 2", "UTF-8")),
        (b"[" * 100_000 + b"\n", ("line 1", "nested too deeply")),
        (b'{"a":' * 100_000 + b"\n", ("line 1", "nested too deeply")),
        (line(HEADER) + b"[" * 100_000 + b"\n", ("line 2", "nested too deeply")),
        (b"[1, 2]\n", ("line 1", "array")),
        (b'"scan"\n', ("line 1", "string")),
        (b"null\n", ("line 1", "literal")),
        (b"1" * 5000 + b"\n", ("line 1", "not JSON")),  # longer than int() takes
        (b'{"record": "scan", \n', ("line 1", "not JSON")),
        (b"\n\n", ("no scan record",)),
        (b"", ("no scan record",)),
        (line({"record": "endpoint"}), ("does not start with a scan record",)),
        (line({"record": ["scan"]}), ("does not start with a scan record",)),
        (line({**HEADER, "scope": ["x"]}), ("another scope",)),
        (line({**HEADER, "scope": {"digest": "\x1b]0;owned\x07" * 30}}), ("another scope",)),
        (line({**HEADER, "ports": "104"}), ("ports differ",)),
        (line({**HEADER, "options": [1]}), ("option called_ae_title differs",)),
        (line({**HEADER, "options": {**OPTIONS, "find": False}}), ("option find",)),
        (line(HEADER) + line(HEADER), ("line 2", "a second scan record")),
        (line(HEADER) + line({"record": "\x1b[2J"}), ("line 2", "record '\\x1b[2J'")),
        (line(HEADER) + line({"record": 7}), ("line 2", "record 7")),
    ],
)
def test_malformed_reports_are_one_line(tmp_path, content, words):
    path = tmp_path / "report.jsonl"
    path.write_bytes(content)
    refused(path, *words)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"host": None}, ("line 2", "host None is not an address")),
        ({"host": "pacs.example.org"}, ("is not an address",)),
        ({"host": "1" * 10_000}, ("is not an address",)),
        ({"host": ["127.0.0.1"]}, ("is not an address",)),
        ({"port": "104"}, ("port '104' is not a port number",)),
        ({"port": True}, ("port True",)),
        ({"port": 104.0}, ("port 104.0",)),
        ({"port": 0}, ("port 0",)),
        ({"port": 70_000}, ("port 70000",)),
        ({"port": 10**40}, ("port 1000",)),
        ({"protocol": "gopher"}, ("unknown protocol 'gopher'",)),
        ({"protocol": None}, ("unknown protocol None",)),
        ({"exposure": "total"}, ("unknown exposure 'total'",)),
        ({"exposure": ["echo"]}, ("unknown exposure",)),
        ({"status": {"a": 1}}, ("unknown status",)),
        ({"findings": {"id": "x"}}, ("findings",)),
        ({"findings": ["dicom-echo-unauthenticated"]}, ("findings",)),
        ({"findings": [{"id": "\x1b[31mRED"}]}, ("findings",)),
        ({"findings": [{"id": 7}]}, ("findings",)),
        ({"findings": [{}]}, ("findings",)),
        ({"port": 11113}, ("127.0.0.1 port 11113 is not in this scan",)),
        ({"port": 8042}, ("port 8042 is not in this scan",)),  # a web port, as DICOM
        ({"host": "127.0.0.3"}, ("127.0.0.3 port 104 is not in this scan",)),
    ],
)
def test_absurd_endpoint_fields_are_one_line(tmp_path, change, words):
    refused(report(tmp_path, HEADER, {**ENDPOINT, **change}), *words)


def test_an_endpoint_written_twice_is_counted_once(tmp_path):
    state = load_resume(report(tmp_path, HEADER, ENDPOINT, ENDPOINT), HEADER, targets=TARGETS)
    assert len(state.finished) == len(state.previous) == 1


@pytest.mark.parametrize("kind", ["missing", "directory", "fifo", "device"])
def test_odd_files_are_refused_without_blocking(tmp_path, kind):
    import os

    path = {"missing": tmp_path / "none.jsonl", "directory": tmp_path, "device": Path("/dev/zero")}
    if kind == "fifo":
        path["fifo"] = tmp_path / "fifo"
        os.mkfifo(path["fifo"])  # open() for reading would wait for a writer, for ever
    words = {"missing": "does not exist", "directory": "Is a directory"}
    refused(path[kind], words.get(kind, "not a regular file"))


def test_lines_longer_than_the_bound_are_refused(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(line(HEADER) + b'{"x": "' + b"a" * 2000 + b'"}\n')
    with path.open("rb") as stream, pytest.raises(BadRecord, match="line 2 is longer than 1000"):
        list(whole_lines(stream, max_line=1000))
    path.write_bytes(line(HEADER) + b'{"x": "' + b"a" * 500)  # torn, shorter: just cut
    with path.open("rb") as stream:
        assert [r.record["record"] for r in whole_lines(stream, max_line=1000)] == ["scan"]


# --- fuzzing: whatever the bytes, a state or one OutputError line -------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELDS = st.sampled_from(["record", "host", "port", "protocol", "status", "exposure", "findings"])


def _loads_or_fails(path: Path) -> None:
    try:
        state = load_resume(path, HEADER, targets=TARGETS)
    except OutputError as exc:
        message = str(exc)
    else:
        assert state.good_bytes <= path.stat().st_size
        for host, port, kind in state.finished:
            assert host in TARGETS
            assert port in (HEADER["web_ports"] if kind == "web" else HEADER["ports"])
        return
    assert "\n" not in message
    assert message.isprintable()


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path, data):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    _loads_or_fails(path)


@SETTINGS
@given(
    records=st.lists(st.one_of(JSON, st.dictionaries(FIELDS, JSON)), max_size=5),
    torn=st.binary(max_size=20).filter(lambda b: b"\n" not in b),
    header=st.booleans(),
)
def test_random_records_after_a_good_header(tmp_path, records, torn, header):
    path = tmp_path / "fuzz.jsonl"
    lines = [line(HEADER)] if header else []
    lines += [json.dumps(r, allow_nan=True).encode() + b"\n" for r in records]
    path.write_bytes(b"".join(lines) + torn)
    _loads_or_fails(path)


@SETTINGS
@given(field=FIELDS, value=JSON, text=st.text(string.printable + "\x1b\x85\u202e", max_size=12))
def test_endpoints_with_one_field_replaced(tmp_path, field, value, text):
    path = tmp_path / "fuzz.jsonl"
    for replacement in (value, text):
        path.write_bytes(line(HEADER) + line({**ENDPOINT, field: replacement}))
        _loads_or_fails(path)

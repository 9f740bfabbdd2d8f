"""Results read back: ``from_dict(to_dict(r)) == r`` for any result the strategies build,
text read from a record is cleaned as a peer's text is, and a record that cannot be a
result is one RecordError naming the field, never another exception.

The strategies are derived from the dataclasses' own type hints (a field added later is
generated too), with peer text full of escapes, bidi overrides and over-long values."""

from __future__ import annotations

import dataclasses
import json
import string
import types
import typing
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposcan import peertext
from exposcan.decoding import FINDING_ID, RecordError
from exposcan.report.safe_json import dumps
from exposcan.results import EndpointResult, Finding, Fingerprint, Matches, TlsFacts
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

#: What hostile peers send: terminal escapes, C1, bidi overrides, separators, zero-width.
NASTY = "\x1b\x07\r\n\t\x85\x9b\u202e\u2066\u2028\u2029\u200b\ufeff  "
PEER_TEXT = st.text(st.characters() | st.sampled_from(NASTY), max_size=40) | st.text(
    string.printable, min_size=250, max_size=600
)

#: Fields whose values the engine constrains (not peer text).
OVERRIDES: dict[tuple[type, str], st.SearchStrategy[Any]] = {
    (EndpointResult, "host"): st.ip_addresses().map(str),
    (EndpointResult, "port"): st.integers(1, 65535),
    (Finding, "id"): st.from_regex(FINDING_ID, fullmatch=True),
}


def strategy(kind: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(kind)
    if origin is types.UnionType or origin is typing.Union:
        return st.one_of(*(strategy(a) for a in typing.get_args(kind)))
    if origin is tuple:
        return st.lists(strategy(typing.get_args(kind)[0]), max_size=3).map(tuple)
    if kind is type(None):
        return st.none()
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return st.sampled_from(list(kind))
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(0, (1 << 63) - 1)
    if kind is float:
        return st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
    if kind is str:
        return PEER_TEXT
    if dataclasses.is_dataclass(kind):
        return results(kind)
    raise AssertionError(f"no strategy for {kind}: teach this test the new field's type")


def results(cls: Any) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: OVERRIDES[cls, f.name] if (cls, f.name) in OVERRIDES else strategy(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.init
    }
    return st.builds(cls, **fields)


ENDPOINTS = results(EndpointResult)
SETTINGS = settings(max_examples=100, deadline=None)


@SETTINGS
@given(result=ENDPOINTS)
def test_from_dict_of_to_dict_is_the_result(result):
    assert EndpointResult.from_dict(result.to_dict()) == result
    # ... also through the report's JSON encoder, as a JSONL line holds it
    record = json.loads(dumps({"record": "endpoint", **result.to_dict()}))
    again = EndpointResult.from_dict(record)
    assert again == result
    assert again.to_dict() == result.to_dict()
    assert hash(again) == hash(result)


@SETTINGS
@given(result=ENDPOINTS)
def test_every_text_a_result_holds_is_clean(result):
    """Construction cleaned the strategies' peer text, so a record read back holds no
    escape either: every string in the dict is what peertext.clean leaves alone."""

    def strings(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    for text in strings(EndpointResult.from_dict(result.to_dict()).to_dict()):
        assert text == peertext.clean(text, len(text))
        assert text.isprintable()


@SETTINGS
@given(result=ENDPOINTS, text=PEER_TEXT)
def test_text_from_a_record_is_cleaned_as_construction_cleans_it(result, text):
    """from_dict goes through the constructors: a record's raw text becomes exactly what
    a probe building the result from that text would hold."""
    record = result.to_dict()
    assert EndpointResult.from_dict({**record, "detail": text}) == dataclasses.replace(
        result, detail=text
    )
    assert EndpointResult.from_dict({**record, "services": [text]}) == dataclasses.replace(
        result, services=(text,)
    )
    finding = Finding(id="x", severity=Severity.INFO, title=text, evidence=text)
    written = {**record, "findings": [{**finding.to_dict(), "title": text, "evidence": text}]}
    assert EndpointResult.from_dict(written).findings == (finding,)
    fingerprint = {"product": text, "version": text, "implementation_class_uid": text}
    assert Fingerprint.from_dict(fingerprint) == Fingerprint(**fingerprint)
    assert TlsFacts.from_dict({"subject": text}) == TlsFacts(subject=text)


def test_a_hostile_record_reads_back_clean():
    record = {
        "record": "endpoint",
        "host": "127.0.0.1",
        "port": 104,
        "protocol": "dimse",
        "status": "success",
        "exposure": "echo",
        "ae_title": "\x1b]0;owned\x07ANY\u202eSCP",
        "severity": "critical",  # derived from the exposure: ignored
        "findings": [
            {
                "id": "dicom-echo-unauthenticated",
                "severity": "medium",
                "title": "t\x9b2J",
                "evidence": "",
            }
        ],
        "fingerprint": {"implementation_class_uid": "1.2.3\x1b", "version": "1.0; rm"},
        "duration_s": 0.123456,
    }
    result = EndpointResult.from_dict(record)
    assert result.ae_title == "]0;ownedANYSCP"
    assert result.findings[0].title == "t2J"
    assert result.fingerprint == Fingerprint(implementation_class_uid="1.2.3")
    assert result.severity is Severity.MEDIUM
    assert result.duration_s == 0.1235


GOOD: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 104,
    "protocol": "dimse",
    "status": "success",
    "exposure": "echo",
}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"host": None}, "host: None is not an address"),
        ({"host": "pacs.example.org"}, "host: 'pacs.example.org' is not an address"),
        ({"host": "fe80::1%\x1b[2J"}, "is not an address"),
        ({"port": "104"}, "port: '104' is not a port number"),
        ({"port": True}, "port: True is not a port number"),
        ({"port": 0}, "port: 0 is not a port number"),
        ({"port": 10**40}, "port: 1000"),
        ({"protocol": "gopher"}, "protocol: 'gopher' is not one of dimse, dimse-tls, http"),
        ({"exposure": ["echo"]}, "exposure: ['echo'] is not one of"),
        ({"status": None}, "status: None is not one of success, connection-refused"),
        ({"attempts": -1}, "attempts: -1 is not a count"),
        ({"attempts": 1.5}, "attempts: 1.5 is not a count"),
        ({"duration_s": float("nan")}, "duration_s: nan is not a duration"),
        ({"duration_s": -1}, "duration_s: -1 is not a duration"),
        ({"duration_s": "1"}, "duration_s: '1' is not a duration"),
        ({"detail": 7}, "detail: 7 is not text"),
        ({"services": "VERIFICATION"}, "services: 'VERIFICATION' is not a list"),
        ({"services": [None]}, "services[0]: None is not text"),
        ({"findings": {"id": "x"}}, "findings: {'id': 'x'} is not a list"),
        ({"findings": ["x"]}, "findings[0]: 'x' is not an object"),
        ({"findings": [{"id": "\x1b[31mRED"}]}, "findings[0].id: '\\x1b[31mRED' is not a"),
        ({"findings": [{"id": "a", "severity": "low", "title": "t"}]}, "evidence: missing"),
        ({"matches": {"count": 3, "cap": 1, "cap_hit": "yes"}}, "matches.cap_hit: 'yes' is not"),
        ({"matches": []}, "matches: [] is not an object"),
        ({"tls": {"key_bits": True}}, "tls.key_bits: True is not a count"),
    ],
)
def test_records_that_cannot_be_results_are_one_record_error(change, words):
    with pytest.raises(RecordError) as caught:
        EndpointResult.from_dict({**GOOD, **change})
    message = str(caught.value)
    assert words in message, message
    assert "\n" not in message
    assert message.isprintable()


@pytest.mark.parametrize("field", ["host", "port", "protocol", "status", "exposure"])
def test_required_fields_must_be_there(field):
    record = {k: v for k, v in GOOD.items() if k != field}
    with pytest.raises(RecordError, match=field):
        EndpointResult.from_dict(record)


def test_the_nested_classes_read_back_on_their_own():
    matches = Matches(count=3, cap=100, cap_hit=False)
    assert Matches.from_dict(json.loads(dumps(matches.to_dict()))) == matches
    finding = Finding(id="a.b-c", severity=Severity.HIGH, title="t", evidence="e")
    assert Finding.from_dict(finding.to_dict()) == finding
    assert Finding.from_dict({k: v for k, v in finding.to_dict().items() if k != "remediation"})
    with pytest.raises(RecordError, match="remediation: None is not text"):
        Finding.from_dict({**finding.to_dict(), "remediation": None})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@SETTINGS
@given(result=ENDPOINTS, field=st.sampled_from(list(EndpointResult.__dataclass_fields__)), v=JSON)
def test_any_value_in_any_field_is_a_result_or_one_record_error(result, field, v):
    message = ""
    try:
        again = EndpointResult.from_dict({**result.to_dict(), field: v})
    except RecordError as exc:
        message = str(exc)
    else:
        assert isinstance(again, EndpointResult)
    assert message.isprintable()
    assert "\n" not in message


def test_vocabularies_come_back_as_members():
    result = EndpointResult.from_dict(
        {**GOOD, "findings": [{"id": "a", "severity": "low", "title": "t", "evidence": "e"}]}
    )
    assert result.protocol is Protocol.DIMSE
    assert result.status is Status.SUCCESS
    assert result.exposure is Exposure.ECHO
    assert result.findings[0].severity is Severity.LOW

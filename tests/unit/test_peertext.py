"""Peer text is made safe once (exposcan.peertext.clean, on every result's construction)
and escaped again at each format's edge: properties, not examples, where they can be."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from exposcan import peertext
from exposcan.report.csv_ import FORMULA_STARTS, cell
from exposcan.report.safe_json import dumps
from exposcan.results import EndpointResult, Finding, Fingerprint, Matches, TlsFacts
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

#: What must never survive: C0 (ESC, BEL, CR, LF, TAB...), DEL, C1, bidi embeddings,
#: overrides and isolates, zero-width and direction marks, line/paragraph separators,
#: BOM, soft hyphen, Arabic letter mark, Mongolian vowel separator, word joiner, tags.
FORBIDDEN = (
    {chr(c) for c in range(0x20)}
    | {chr(c) for c in range(0x7F, 0xA0)}
    | {chr(c) for c in range(0x202A, 0x202F)}
    | {chr(c) for c in range(0x2066, 0x206A)}
    | {chr(c) for c in range(0x200B, 0x2010)}
    | {"\u2028", "\u2029", "\ufeff", "\u00ad", "\u061c", "\u180e", "\u2060", "\U000e0041"}
    | {chr(0xD800), chr(0xDFFF)}  # lone surrogates
)
HOSTILE = st.sampled_from(sorted(FORBIDDEN))
#: Any text, with the dangerous characters far more often than chance would pick them.
ANY_TEXT = st.text(st.one_of(st.characters(), HOSTILE, st.sampled_from(" =+-@'\"<>&")))
#: Printable words (no space inside), joined by single spaces: what clean must keep.
WORD = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")),
    min_size=1,
    max_size=12,
)
PRINTABLE_TEXT = st.lists(WORD, max_size=12).map(" ".join)


@given(ANY_TEXT, st.integers(min_value=1, max_value=300))
def test_clean_is_idempotent_bounded_and_printable(value: str, limit: int) -> None:
    once = peertext.clean(value, limit)
    assert peertext.clean(once, limit) == once
    assert len(once) <= limit
    assert not FORBIDDEN & set(once), [hex(ord(c)) for c in FORBIDDEN & set(once)]
    assert once.isprintable()
    assert "  " not in once
    assert once == once.strip()


@given(PRINTABLE_TEXT)
def test_clean_keeps_printable_text_in_any_script(value: str) -> None:
    assert peertext.clean(value, 1000) == value


def test_clean_examples() -> None:
    assert peertext.clean("Orthanc\x1b]0;pwned\x07 1.12") == "Orthanc]0;pwned 1.12"
    assert peertext.clean("evil\u202egnp.exe") == "evilgnp.exe"
    assert peertext.clean("two\r\nlines\tand\u2028more") == "two lines and more"
    assert peertext.clean("Zürich 東京 Αθήνα") == "Zürich 東京 Αθήνα"
    assert peertext.clean("x" * 300) == "x" * 256
    assert peertext.clean_optional("\x1b\x07\u200b") is None


@given(ANY_TEXT)
def test_version_is_ascii_or_dropped(value: str) -> None:
    kept = peertext.version(value)
    assert kept is None or (kept == value and kept.isascii() and len(kept) <= 32)


def test_version_examples() -> None:
    assert peertext.version("1.12.3") == "1.12.3"
    assert peertext.version("VE11C") == "VE11C"  # a DICOM version name's version
    assert peertext.version("mainline-2024+git") == "mainline-2024+git"
    # What a web API says about its product starts with a digit: a word is not a version.
    assert peertext.version("1.12.3", product=True) == "1.12.3"
    assert peertext.version("ZZSYNTH", product=True) is None
    # ``\w`` took these: other scripts' digits and letters, and look-alikes.
    for bad in (
        "\u0661\u0662",
        "1.0\u0430",
        "\uff11.\uff10",
        "1.0\u202e",
        "=1+1",
        "-1",
        "1 0",
        "",
        "1" * 33,
    ):
        assert peertext.version(bad) is None, bad
        assert peertext.version(bad, product=True) is None, bad


def strings(value: object) -> list[str]:
    """Every string in a JSON-ready value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


@given(ANY_TEXT)
def test_every_result_cleans_its_text_on_construction(value: str) -> None:
    finding = Finding(
        id="x", severity=Severity.INFO, title=value, evidence=value, remediation=value
    )
    fingerprint = Fingerprint(
        implementation_class_uid=value,
        implementation_version_name=value,
        product=value,
        toolkit=value,
        version=value,
    )
    tls = TlsFacts(
        version=value, cipher=value, subject=value, issuer=value, not_before=value, not_after=value
    )
    result = EndpointResult(
        host=value or "h",
        port=1,
        protocol=Protocol.HTTP,
        status=Status.SUCCESS,
        exposure=Exposure.NONE,
        hostname=value,
        ae_title=value,
        detail=value,
        services=(value,),
        findings=(finding,),
        fingerprint=fingerprint,
        matches=Matches(count=1, cap=1, cap_hit=True, level=value),
        tls=tls,
    )
    for text in strings(result.to_dict()):
        assert not FORBIDDEN & set(text), (value, text)
        assert text.isprintable()
    assert fingerprint.version is None or peertext.VERSION.fullmatch(fingerprint.version)
    assert fingerprint.implementation_class_uid is None or peertext.UID.fullmatch(
        fingerprint.implementation_class_uid
    )


def test_a_uid_that_is_not_one_is_dropped() -> None:
    assert Fingerprint(implementation_class_uid="1.2.276.0.7230010").implementation_class_uid
    for bad in ("=1.2.3", "1.2.ZZ", "1..2", "1." * 40):
        assert Fingerprint(implementation_class_uid=bad).implementation_class_uid is None


JSON_VALUES = st.recursive(
    ANY_TEXT | st.integers() | st.booleans() | st.none(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_json_escapes_every_non_printable_and_reads_back(value: object) -> None:
    for indent in (None, 2):
        text = dumps(value, indent=indent)
        raw = set(text) - {"\n"}
        assert not FORBIDDEN & raw, [hex(ord(c)) for c in FORBIDDEN & raw]
        assert json.loads(text) == value
        text.encode("utf-8")  # a lone surrogate is escaped, so writing never fails


@given(ANY_TEXT)
def test_csv_text_cells_never_start_a_formula(value: str) -> None:
    written = cell(value)
    assert isinstance(written, str)
    assert not written.startswith(FORMULA_STARTS)
    assert written.startswith("'") or written == peertext.clean(value, 4096)
    stream = io.StringIO()
    csv.writer(stream).writerow([written])
    assert next(csv.reader(io.StringIO(stream.getvalue())))[0] == written


def test_csv_formula_cells_are_quoted_and_numbers_are_not() -> None:
    for formula in ('=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\uff1dcmd|' /C calc'!A0"):
        assert cell(formula) == "'" + formula
    assert cell("\t=1") == "'=1"  # the tab is cleaned away; the formula start is caught
    assert cell(" -1") == "'-1"
    assert [cell(-1), cell(104), cell(0.5)] == [-1, 104, 0.5]
    assert cell(True) is True
    assert cell("1.2.840.10008") == "1.2.840.10008"

"""Implementation fingerprints: the packaged table validates, known identities
map to the right product or toolkit, and a malformed table fails at load."""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pydicom.data
import pynetdicom
import pytest

from exposcan.fingerprints import (
    CONFIDENCE_HIGH,
    CONFIDENCE_LOW,
    CONFIDENCE_MEDIUM,
    FingerprintDataError,
    ProductGuess,
    default_db,
    identify,
    load_fingerprints,
    parse_fingerprints,
)

# (uid, version name) -> (product, toolkit, version); one line per table entry
# at least, values as sent by the real software (see each entry's source).
KNOWN = [
    pytest.param(
        str(pynetdicom.PYNETDICOM_IMPLEMENTATION_UID),
        pynetdicom.PYNETDICOM_IMPLEMENTATION_VERSION,
        ("pynetdicom", "pynetdicom", pynetdicom.__version__),
        id="pynetdicom-installed",
    ),
    pytest.param(
        "1.2.826.0.1.3680043.9.3811.1.0.0",
        "PYNETDICOM_100",
        ("pynetdicom", "pynetdicom", "1.0.0"),
        id="pynetdicom-1.0",
    ),
    pytest.param(
        "1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", (None, "DCMTK", "3.6.7"), id="dcmtk-367"
    ),
    pytest.param(
        "1.2.276.0.7230010.3.0.3.5.4", "OFFIS_DCMTK_354", (None, "DCMTK", "3.5.4"), id="horos-dcmtk"
    ),
    pytest.param(None, "OFFIS-DCMTK-311", (None, "DCMTK", "3.1.1"), id="dcmtk-old-name"),
    pytest.param("1.2.276.0.7238010.5.0.3.5.4", "OSIRIX", ("OsiriX", "DCMTK", None), id="osirix"),
    pytest.param("1.2.40.0.13.1.3", "dcm4che-5.29.2", (None, "dcm4che", "5.29.2"), id="dcm4che3"),
    pytest.param("1.2.40.0.13.1.1", "dcm4che-2.0", (None, "dcm4che", "2.0"), id="dcm4che2"),
    pytest.param(
        "1.3.6.1.4.1.30071.8", "fo-dicom 5.1.2", (None, "fo-dicom", "5.1.2"), id="fo-dicom"
    ),
    pytest.param(
        "1.2.826.0.1.3680043.2.1143.107.104.103.115.3.0.21",
        "GDCM 3.0.21",
        (None, "GDCM", "3.0.21"),
        id="gdcm",
    ),
    pytest.param(
        "1.2.826.0.1.3680043.2.135.1066.101",
        "1.5.0/WIN32",
        ("Conquest DICOM server", None, "1.5.0"),
        id="conquest",
    ),
    pytest.param(
        "1.2.826.0.1.3680043.2.135.1066.101",
        "1.5.0/OSX",
        ("Conquest DICOM server", None, "1.5.0"),
        id="conquest-macos-build",
    ),
    pytest.param(
        "1.3.6.1.4.1.25403.1.1.1",
        "Dicom 0.1",
        (None, "ClearCanvas DICOM library", None),
        id="clearcanvas",
    ),
    pytest.param(
        "1.2.840.999999.1",
        "Dicom 0.1",
        (None, "ClearCanvas DICOM library", None),
        id="clearcanvas-early-imageserver",
    ),
    pytest.param(
        "1.2.246.352.70.2.1.120.1",
        "MergeCOM3_410",
        (None, "Merge DICOM Toolkit", "4.1.0"),
        id="merge-under-vendor-uid",
    ),
    pytest.param(
        "1.2.840.113654.2.3.1995.3.0.6",
        "MIRCTN11MAR2003",
        (None, "CTN (RSNA Central Test Node)", None),
        id="ctn",
    ),
    pytest.param(
        "1.2.826.0.1.3680043.8.498.1", "PYDICOM 3.0.2", (None, "pydicom", "3.0.2"), id="pydicom"
    ),
    pytest.param(
        "1.3.12.2.1107.5.2",
        "MR_2004V_VB11A",
        ("Siemens syngo MR", None, "2004V_VB11A"),
        id="siemens-mr",
    ),
    pytest.param(
        "1.2.840.114340.3", "Tiller_SV500", ("SonoSite ultrasound", None, "SV500"), id="sonosite"
    ),
    pytest.param(
        "1.2.392.200039.102", "ALOKA20010925", ("Aloka ultrasound", None, "20010925"), id="aloka"
    ),
    pytest.param("1.3.6.1.4.1.5962.2", "DCTOOL100", (None, "dicom3tools", "100"), id="dicom3tools"),
    pytest.param(
        "1.2.826.0.1.3680043.10.786.1.1",
        "GONETDICOM_1_1",
        (None, "go-netdicom", "1.1"),
        id="go-netdicom",
    ),
    pytest.param(
        "1.3.46.670589.11.0.0.51.4.4.1",
        "MR DICOM 4.1",
        ("Philips MR", None, "4.1"),
        id="philips-mr",
    ),
    pytest.param("1.2.410.200010.99.3.5", "INF_4.5", ("INFINITT PACS", None, "4.5"), id="infinitt"),
    pytest.param(
        "1.3.6.1.4.1.5962.99.2",
        "PIXELMEDJAVA001",
        (None, "PixelMed Java DICOM Toolkit", None),
        id="pixelmed",
    ),
    # Debian python3-odil 0.12.2, as its SCP answers (tests/peers/test_more_peers.py).
    pytest.param("1.2.826.0.1.3680043.9.55600.0", "Odil 0", (None, "odil", "0"), id="odil"),
    pytest.param(
        "2.25.175220362680028036156011002668768058626",
        "DICOM-rs 0.10.0",
        (None, "DICOM-rs", "0.10.0"),
        id="dicom-rs-0.10",
    ),
    pytest.param(
        "2.25.262086406829110419931297894772577063974",
        "DICOM-rs 0.8.1",
        (None, "DICOM-rs", "0.8.1"),
        id="dicom-rs-0.8.1",
    ),
    pytest.param(
        "1.2.826.0.1.3680043.10.854", "DCMJS-DIMSE-V0.2", (None, "dcmjs-dimse", None), id="dcmjs"
    ),
    pytest.param("1.3.6.1.4.1.30071.6", "mDCM 0.9", (None, "mDCM", "0.9"), id="mdcm"),
    pytest.param(
        "1.3.6.1.4.1.30071.8", "fo-dicom 4.0.8", (None, "fo-dicom", "4.0.8"), id="fo-dicom-4"
    ),
    pytest.param(
        "1.2.826.0.1.3680043.9.7133.1.1",
        "GODICOM_1_1",
        (None, "GRAIL go-dicom / go-netdicom", None),
        id="go-dicom-grail",
    ),
]

#: Files shipped inside the pinned pydicom wheel, and who wrote their file meta
#: (PS3.10 7.1: Implementation Class UID and Version Name of the last writer).
PYDICOM_FILES = [
    ("test_files/examples_overlay.dcm", ("Siemens syngo MR", None, "2004V_VB11A")),
    ("test_files/examples_ybr_color.dcm", ("SonoSite ultrasound", None, "SV500")),
    ("test_files/examples_palette.dcm", ("OsiriX", "DCMTK", None)),
    ("charset_files/chrKoreanMulti.dcm", ("INFINITT PACS", None, "3.5")),
    ("charset_files/chrJapMulti.dcm", ("INFINITT PACS", None, "3.5")),
    ("palettes/spring.dcm", (None, "PixelMed Java DICOM Toolkit", None)),
    ("test_files/test-SR.dcm", (None, "DCMTK", "3.4.2")),
    # A GE LOGIQ 700 image rewritten by DCMTK: the file meta names DCMTK, not GE.
    ("test_files/ExplVR_BigEnd.dcm", (None, "DCMTK", "3.1.1")),
    ("test_files/MR_small_jp2klossless.dcm", (None, "GDCM", "2.2.4")),
    ("test_files/no_meta_group_length.dcm", ("Conquest DICOM server", None, "1.4.1")),
    ("charset_files/chrGerm.dcm", (None, "dicom3tools", "100")),
    ("test_files/JPEGLSNearLossless_08.dcm", (None, "pydicom", "3.0.0")),
]


@pytest.mark.parametrize(("name", "expected"), PYDICOM_FILES, ids=[f for f, _ in PYDICOM_FILES])
def test_the_writers_of_pydicoms_own_files(name: str, expected: tuple[str | None, ...]) -> None:
    """Real identities, read from files on this machine rather than copied from a note."""
    path = Path(pydicom.data.__file__).parent / name
    assert path.is_file(), f"pydicom {pydicom.__version__} no longer ships {name}"
    meta = pydicom.dcmread(path, stop_before_pixels=True, force=True).file_meta
    guess = identify(str(meta.ImplementationClassUID), str(meta.ImplementationVersionName))
    assert guess is not None
    assert (guess.product, guess.toolkit, guess.version) == expected


def test_vendor_roots_are_not_guessed_from_shared_toolkit_roots() -> None:
    # DCMTK's root with a vendor's version name is a DCMTK peer, never the vendor.
    assert identify("1.2.276.0.7230010.3.0.3.6.7", "MR DICOM 4.1") == identify(
        "1.2.276.0.7230010.3.0.3.6.7", None
    )
    # A vendor root with a toolkit's version name: the vendor, built on that toolkit.
    guess = identify("1.3.46.670589.11.0.0.51.4.4.1", "OFFIS_DCMTK_367")
    assert guess is not None
    assert (guess.product, guess.toolkit) == ("Philips MR", "DCMTK")
    # Philips' root outside its MR arc names nothing.
    assert identify("1.3.46.670589.5.2.10", "MR DICOM 4.1") is None


def test_packaged_table_loads_and_every_entry_validates() -> None:
    db = load_fingerprints()
    assert len(db) >= 15
    ids = [entry.id for entry in db.entries]
    assert len(ids) == len(set(ids))
    toolkits = {entry.product for entry in db.entries if entry.kind == "toolkit"}
    for entry in db.entries:
        assert entry.kind in ("toolkit", "product")
        assert entry.source.strip()
        assert entry.uids or entry.uid_prefixes or entry.version_name or entry.hints
        if entry.toolkit is not None:
            # A product's toolkit is a toolkit of the table, or the product itself.
            assert entry.toolkit in toolkits | {entry.product}, entry.id


def test_default_table_is_loaded_once() -> None:
    assert default_db() is default_db()


@pytest.mark.parametrize(("uid", "name", "expected"), KNOWN)
def test_known_identities(uid: str | None, name: str, expected: tuple[str | None, ...]) -> None:
    guess = identify(uid, name)
    assert guess is not None
    assert (guess.product, guess.toolkit, guess.version) == expected
    assert guess.source


def test_every_entry_with_wire_values_has_a_known_example() -> None:
    hit = {
        entry.id
        for param in KNOWN
        for entry in default_db().entries
        if guess_source(param.values[0], param.values[1]) == entry.source
    }
    wire = {entry.id for entry in default_db().entries if not entry.hints}
    assert wire <= hit, sorted(wire - hit)


def guess_source(uid: object, name: object) -> str | None:
    assert uid is None or isinstance(uid, str)
    assert isinstance(name, str)
    guess = identify(uid, name)
    return guess.source if guess else None


def test_installed_pynetdicom_identifies_itself() -> None:
    guess = identify(
        pynetdicom.PYNETDICOM_IMPLEMENTATION_UID, pynetdicom.PYNETDICOM_IMPLEMENTATION_VERSION
    )
    assert guess is not None
    assert guess.product == "pynetdicom"
    assert guess.version == pynetdicom.__version__
    assert guess.confidence == CONFIDENCE_HIGH


def test_a_toolkit_root_is_not_a_product() -> None:
    # What Debian's Orthanc 1.10.1 actually sends: DCMTK's identity, unchanged.
    guess = identify("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")
    assert guess == ProductGuess(
        product=None,
        toolkit="DCMTK",
        version="3.6.7",
        confidence=CONFIDENCE_HIGH,
        source=guess.source if guess else "",
    )


def test_uid_alone_and_name_alone() -> None:
    by_root = identify("1.2.276.0.7230010.3.0.3.6.7", None)
    assert by_root is not None
    assert (by_root.toolkit, by_root.version, by_root.confidence) == ("DCMTK", "3.6.7", "low")
    by_exact = identify("1.3.6.1.4.1.30071.8", None)
    assert by_exact is not None
    assert (by_exact.toolkit, by_exact.confidence) == ("fo-dicom", CONFIDENCE_MEDIUM)
    by_name = identify(None, "fo-dicom 4.0.7")
    assert by_name is not None
    assert (by_name.toolkit, by_name.version, by_name.confidence) == (
        "fo-dicom",
        "4.0.7",
        CONFIDENCE_MEDIUM,
    )


def test_version_name_beats_uid_root() -> None:
    # dcm4che/dcm4che#1238: an application set DCMTK's UID, the name stayed dcm4che's.
    guess = identify("1.2.276.0.7230010.3.0.3.6.0", "dcm4che-5.27.0")
    assert guess is not None
    assert (guess.product, guess.toolkit, guess.version) == (None, "dcm4che", "5.27.0")


def test_product_beats_toolkit() -> None:
    db = parse_fingerprints(
        """
        [[implementation]]
        id = "kit"
        product = "Kit"
        kind = "toolkit"
        uid_prefix = ["1.2.3."]
        version_name = '^KIT_(\\d+)$'
        source = "test"

        [[implementation]]
        id = "app"
        product = "App"
        kind = "product"
        toolkit = "Kit"
        uid = ["1.2.3.99"]
        source = "test"
        """
    )
    guess = db.identify("1.2.3.99", "KIT_7")
    assert guess is not None
    assert (guess.product, guess.toolkit) == ("App", "Kit")
    toolkit_only = db.identify("1.2.3.4", "KIT_7")
    assert toolkit_only is not None
    assert (toolkit_only.product, toolkit_only.toolkit, toolkit_only.version) == (None, "Kit", "7")


def test_generic_names_need_their_uid() -> None:
    assert identify(None, "MR_ANYTHING") is None
    assert identify(None, "Dicom 0.1") is None
    assert identify("1.2.3.4", "1.5.0/WIN32") is None


@pytest.mark.parametrize(
    ("uid", "name"),
    [
        ("1.2.3.4", "SOMETHING_ELSE"),
        (None, None),
        ("", ""),
        ("1.2.276.0.7230010.30.1", None),  # shares digits with the DCMTK root, not the root
        ("9" * 65, "OFFIS_DCMTK_367" + "X" * 60),  # longer than DICOM allows: not matched
    ],
)
def test_unknown_identities(uid: str | None, name: str | None) -> None:
    assert identify(uid, name) is None


def test_padding_is_ignored() -> None:
    guess = identify("1.3.6.1.4.1.30071.8\x00", "fo-dicom 5.1.2 ")
    assert guess is not None
    assert (guess.toolkit, guess.version) == ("fo-dicom", "5.1.2")


def test_hints_name_a_product_behind_its_toolkit() -> None:
    hints = {"web_product": "Orthanc", "web_version": "1.10.1"}
    guess = identify("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", extra_hints=hints)
    assert guess is not None
    assert (guess.product, guess.toolkit, guess.version, guess.confidence) == (
        "Orthanc",
        "DCMTK",
        "1.10.1",
        CONFIDENCE_MEDIUM,
    )
    alone = identify(None, None, extra_hints=hints)
    assert alone is not None
    assert (alone.product, alone.confidence) == ("Orthanc", CONFIDENCE_LOW)


def test_hints_that_contradict_the_wire_are_ignored() -> None:
    guess = identify("1.2.40.0.13.1.3", "dcm4che-5.29.2", extra_hints={"web_product": "Orthanc"})
    assert guess is not None
    assert (guess.product, guess.toolkit) == (None, "dcm4che")


def test_a_hinted_version_must_look_like_one() -> None:
    guess = identify(None, None, extra_hints={"web_product": "orthanc", "web_version": "1; rm -rf"})
    assert guess is not None
    assert guess.product == "Orthanc"
    assert guess.version is None


VALID = """
[[implementation]]
id = "x"
product = "X"
kind = "toolkit"
uid = ["1.2.3"]
source = "test"
"""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (VALID.replace('uid = ["1.2.3"]', "version_name = '^X(('"), "not a valid regex"),
        (VALID.replace('uid = ["1.2.3"]', "hints = { web = '[' }"), "not a valid regex"),
        (VALID.replace('source = "test"', ""), "missing 'source'"),
        (VALID.replace('kind = "toolkit"', 'kind = "library"'), "'kind' must be"),
        (VALID.replace('"1.2.3"', '"1.2.03"'), "invalid uid"),
        (VALID.replace('uid = ["1.2.3"]', 'uid_prefix = ["1.2.3"]'), "invalid uid_prefix"),
        (VALID + "colour = 'red'", "unknown keys"),
        (VALID + VALID.replace('"1.2.3"', '"1.2.4"'), "duplicate id"),
        (VALID + VALID.replace('id = "x"', 'id = "y"'), "already in x"),
        (
            VALID.replace('uid = ["1.2.3"]', "uid = [\"1.2.3\"]\nuid_version = '^1\\.2\\.3$'"),
            "at least one group",
        ),
        (VALID.replace('kind = "toolkit"', 'kind = "toolkit"\ntoolkit = "Y"'), "product entries"),
        (VALID.replace('uid = ["1.2.3"]', ""), "needs at least one of"),
        (VALID.replace('uid = ["1.2.3"]', 'uid = ["1.2.3"]\nversion_from = "uid"'), "uid_version"),
        (VALID.replace('uid = ["1.2.3"]', 'uid = ["1.2.3"]\nname_needs_uid = 1'), "true or false"),
        ("[[implementation]\n", "invalid TOML"),
        ("", "no [[implementation]] entries"),
        ("other = 1\n" + VALID, "unknown top-level keys"),
    ],
)
def test_bad_tables_fail_at_load(text: str, problem: str) -> None:
    with pytest.raises(FingerprintDataError) as caught:
        parse_fingerprints(text, "bad.toml")
    message = str(caught.value)
    assert problem in message
    assert message.startswith("bad.toml")
    assert "\n" not in message


def test_errors_name_the_entry() -> None:
    with pytest.raises(FingerprintDataError, match=r"implementation #1 \(x\): 'version_name'"):
        parse_fingerprints(VALID.replace('uid = ["1.2.3"]', "version_name = '('"), "bad.toml")


# --- entries added for issue 14 (each value from its source, see the table) -----------


def test_odil_is_named_by_its_implementation_uid_not_its_instance_root() -> None:
    """odil's implementation UID is its root with "0." glued on (src/odil/uid.cpp), so
    .55600.<major>; instance UIDs it generates (.5560.<random>) name no implementation."""
    uid_only = identify("1.2.826.0.1.3680043.9.55600.1", None)
    assert uid_only is not None
    assert (uid_only.toolkit, uid_only.version, uid_only.confidence) == (
        "odil",
        "1",
        CONFIDENCE_LOW,
    )
    assert identify("1.2.826.0.1.3680043.9.5560.1234567", None) is None
    name_only = identify(None, "Odil 0")
    assert name_only is not None
    assert (name_only.toolkit, name_only.confidence) == ("odil", CONFIDENCE_MEDIUM)


def test_every_dicom_rs_release_uid_is_known_and_the_name_decides() -> None:
    """DICOM-rs draws a new 2.25 UID for each release: every listed one names it, and the
    version name alone (a UID not yet listed) still does, from the name."""
    entry = next(e for e in default_db().entries if e.id == "dicom-rs")
    assert len(entry.uids) == 10
    for uid in entry.uids:
        guess = identify(uid, None)
        assert guess is not None
        assert (guess.toolkit, guess.confidence) == ("DICOM-rs", CONFIDENCE_MEDIUM)
    unlisted = identify("2.25.1", "DICOM-rs 0.11.0")
    assert unlisted is not None
    assert (unlisted.toolkit, unlisted.version, unlisted.confidence) == (
        "DICOM-rs",
        "0.11.0",
        CONFIDENCE_MEDIUM,
    )
    assert identify("2.25.1", None) is None  # a UUID UID alone names nothing


def test_dcmjs_dimse_reports_no_version_from_its_fixed_name() -> None:
    """'V0.2' has named every dcmjs-dimse release: it is not read as the version."""
    guess = identify(None, "DCMJS-DIMSE-V0.2")
    assert guess is not None
    assert (guess.toolkit, guess.version) == ("dcmjs-dimse", None)
    relabelled = identify("1.2.3.4", "DCMJS-DIMSE-V0.2")  # an application's own UID
    assert relabelled is not None
    assert relabelled.toolkit == "dcmjs-dimse"


def test_dicoogle_answers_as_dcm4che_2() -> None:
    """Dicoogle sets no identity of its own (see the dcm4che entry's note)."""
    guess = identify("1.2.40.0.13.1.1", "dcm4che-2.0")
    assert guess is not None
    assert (guess.product, guess.toolkit, guess.version) == (None, "dcm4che", "2.0")
    entry = next(e for e in default_db().entries if e.id == "dcm4che")
    assert entry.note is not None
    assert "Dicoogle" in entry.note


def test_new_entries_cite_a_repository_file_or_an_observation() -> None:
    for entry_id in ("odil", "dicom-rs", "dcmjs-dimse", "go-dicom-grail", "mdcm"):
        entry = next(e for e in default_db().entries if e.id == entry_id)
        assert re.search(r"\w+/[\w.-]+ \([0-9a-f]{7}\) \S+\.\w+ lines? \d+", entry.source), (
            entry.source
        )


def test_grail_go_dicom_is_not_confused_with_its_fork() -> None:
    """kristianvalind/go-netdicom, a fork, has a root of its own (the go-netdicom entry)."""
    grail = identify("1.2.826.0.1.3680043.9.7133.1.1", "GODICOM_1_1")
    fork = identify("1.2.826.0.1.3680043.10.786.1.1", "GONETDICOM_1_1")
    assert grail is not None
    assert fork is not None
    assert (grail.toolkit, fork.toolkit) == ("GRAIL go-dicom / go-netdicom", "go-netdicom")
    # An A-ASSOCIATE-AC without any identity (go-netdicom's SCP, dicompot) names nothing.
    assert identify(None, None) is None

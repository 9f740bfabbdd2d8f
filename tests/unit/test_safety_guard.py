"""The retrieval guard, property-tested: every spelling of a retrieval is refused.

A grammar of the resources the probe must never ask for (WADO-RS studies/series/instances,
frames, rendered, thumbnails, bulk data; Orthanc's files, archives, previews; WADO-URI
retrievals; Dicoogle's downloads), then any mix of spellings a server may read the same
way: letter case, percent-encoding (once, twice, three times, either hex case), ``;params``,
dot segments (plain, encoded, Tomcat's ``..;``), repeated slashes, backslashes, NUL,
full-width letters. Each must be refused by :func:`check_path`, and the path-only ones by
the reading rule alone (:func:`check_readings`), so either rule holds without the other.
The paths the probe does send stay allowed, and are sent exactly as checked.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from yarl import URL

from exposcan.options import ScanOptions
from exposcan.probes.web import UnsafePathError, check_path
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.dicomweb import DICOMWEB_ROOTS, PROXY_PREFIXES
from exposcan.probes.web.safety import check_readings, readings, remove_dot_segments
from tests.support.web_peers import RETRIEVAL

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- the grammar

uids = st.from_regex(r"[1-9][0-9]{0,2}(\.[0-9]{1,4}){0,4}", fullmatch=True)
orthanc_ids = st.from_regex(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}", fullmatch=True)
roots = st.sampled_from(
    ["", "/dicom-web", "/dicomweb", "/orthanc/dicom-web", "/dcm4chee-arc/aets/DCM4CHEE/rs",
     "/api", "/wado-rs", "/rs", "/pacs/dicom-web"]
)  # fmt: skip
wado_rs_suffixes = st.sampled_from(
    ["", "/frames/1", "/frames/1,2,3", "/rendered", "/thumbnail", "/metadata",
     "/bulkdata/1.2.3", "/pixeldata", "/rendered?quality=50"]
)  # fmt: skip


@st.composite
def wado_rs(draw: st.DrawFn) -> str:
    """PS3.18 §10.4 Retrieve Transaction resources, below a study, series or instance."""
    path = f"{draw(roots)}/studies/{draw(uids)}"
    depth = draw(st.integers(0, 2))
    if depth >= 1:
        path += f"/series/{draw(uids)}"
    if depth >= 2:
        path += f"/instances/{draw(uids)}"
    return path + draw(wado_rs_suffixes)


@st.composite
def orthanc_downloads(draw: st.DrawFn) -> str:
    """Orthanc REST resources that hand out files, pixels or tags, and the listings below
    study level."""
    prefix = draw(st.sampled_from(["", "/orthanc", "/pacs"]))
    resource = draw(st.sampled_from(["instances", "series", "studies", "patients"]))
    tail = draw(
        st.sampled_from(
            ["file", "preview", "rendered", "frames/0/preview", "image-uint8", "archive",
             "media", "content/0010-0010", "attachments/dicom/data", "tags", ""]
        )
    )  # fmt: skip
    if draw(st.booleans()):
        return f"{prefix}/{draw(st.sampled_from(['instances', 'series', 'patients']))}"
    return f"{prefix}/{resource}/{draw(orthanc_ids)}" + (f"/{tail}" if tail else "")


@st.composite
def wado_uri(draw: st.DrawFn) -> str:
    """PS3.18 Chapter 9: ``requestType=WADO`` with the three UIDs, anywhere; or below /wado."""
    if draw(st.booleans()):
        return f"/wado/{draw(st.sampled_from(['', 'x', 'studies', '1.2.3']))}"
    path = draw(st.sampled_from(["/wado", "/dcm4chee-arc/aets/DCM4CHEE/wado", "/wadouri", "/"]))
    params = [
        f"{draw(st.sampled_from(['requestType', 'REQUESTTYPE', 'requesttype']))}=WADO",
        f"studyUID={draw(uids)}",
        f"seriesUID={draw(uids)}",
        f"objectUID={draw(uids)}",
    ]
    if draw(st.booleans()):
        params.append("contentType=image/jpeg")
    return path + "?" + "&".join(draw(st.permutations(params)))


dicoogle = st.sampled_from(
    ["/dic2png?SOPInstanceUID=1.2.3", "/dump?uid=1.2.3", "/legacy/file?uid=1.2.3",
     "/export?query=x", "/dic2png"]
)  # fmt: skip
queries_asking_for_pixels = st.sampled_from(
    ["/dicom-web/studies?limit=1&accept=image/jpeg", "/dicom-web/studies?requestType=WADO",
     "/studies?limit=1&contentType=image/png", "/dicom-web/studies?limit=1&includefield=all",
     "/system?studyUID=1"]
)  # fmt: skip
path_only = st.one_of(wado_rs(), orthanc_downloads(), wado_uri().filter(lambda p: "?" not in p))
forbidden = st.one_of(path_only, wado_uri(), dicoogle, queries_asking_for_pixels)

# --------------------------------------------------------------------------- spellings

FULL_WIDTH = {c: chr(ord(c) - ord("a") + 0xFF41) for c in "abcdefghijklmnopqrstuvwxyz"}


def _escape(ch: str, layers: int, upper: bool) -> str:
    text = ch
    for _ in range(layers):
        text = "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in text.encode())
    return text


@st.composite
def respell(draw: st.DrawFn, path: str) -> str:
    """``path`` spelled as a lenient server may still read it (the query left alone)."""
    target, mark, query = path.partition("?")
    chars = list(target)
    for i, ch in enumerate(chars):
        kind = draw(st.sampled_from(["keep", "keep", "keep", "case", "escape", "wide"]))
        if kind == "case":
            chars[i] = ch.swapcase()
        elif kind == "escape" and ch != "/":
            chars[i] = _escape(ch, draw(st.integers(1, 3)), draw(st.booleans()))
        elif kind == "wide" and ch.lower() in FULL_WIDTH:
            wide = FULL_WIDTH[ch.lower()]
            chars[i] = _escape(wide, 1, True) if draw(st.booleans()) else wide
    # Slashes: as they are, doubled, a backslash (raw or escaped), an escaped slash, a
    # dot segment, a detour through a sibling, Tomcat's ``..;``, a NUL before them.
    slash_forms = st.sampled_from(
        ["/", "/", "/", "//", "\\", "%5C", "%5c", "%2F", "%252F", "/./", "/%2e/", "/x/../",
         "/x/%2E%2E/", "/x/..;/", "/.;x/", "%00/", "/;x/"]
    )  # fmt: skip
    spelled = "".join(
        (draw(slash_forms) if ch == "/" and i > 0 else ch) for i, ch in enumerate(chars)
    )
    if draw(st.booleans()):
        segments = spelled.split("/")
        at = draw(st.integers(1, max(1, len(segments) - 1)))
        if at < len(segments):
            segments[at] += draw(st.sampled_from([";x", ";jsessionid=1", ";", ";a=b"]))
        spelled = "/".join(segments)
    if draw(st.booleans()) and not query:
        spelled += draw(st.sampled_from(["/", "//", "/.", "%00", ";x"]))
    return spelled + mark + query


@st.composite
def respelled(draw: st.DrawFn, paths: st.SearchStrategy[str]) -> str:
    return draw(respell(draw(paths)))


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(respelled(forbidden))
@example("/dicom-web/STUDIES/1/SERIES/2/INSTANCES/3/FRAMES/1")
@example("/wado;x")
@example("/dicom-web/studies/1%2Fframes")
@example("/studies%2F1")
@example("/studies%252F1")
@example("/./wado/")
@example("/a/../wado/")
@example("//wado/")
@example("/wado/")
@example("/studies\\1")
@example("/\uff53tudies/1")
@example("/%EF%BD%93tudies/1")
@example("/studies/1%00")
@example("/studies/1/..;/rendered")
def test_every_spelling_of_a_retrieval_is_refused(path):
    with pytest.raises(UnsafePathError):
        check_path(path)


@SETTINGS
@given(respelled(path_only))
@example("/DICOM-WEB/STUDIES/1")
@example("/x/..%2F..%2Fstudies/1")
@example("/studies/1/%2e%2e")  # a server that does not decode reads study "1"
@example("/studies/1//..")  # dot segments before collapsing: /studies/1/
@example("/studies/1\\..")  # backslash as a character: study "1\.."
def test_the_readings_alone_refuse_every_spelling(path):
    """Rule 1 without rule 2: the normaliser by itself sees through each spelling."""
    with pytest.raises(UnsafePathError):
        check_readings(path)


# The paths the probe sends (grep the probe modules for probe.get and qido): the plan's
# constants, the prefixes, the QIDO-RS listing at each root, a random baseline.
PROBE_PATHS = [
    "/",
    "/system",
    "/statistics",
    "/studies?limit=100",
    "/plugins/dicom-web",
    "/dicom-web/studies?limit=1",
    "/dcm4chee-arc/aets",
    "/dcm4chee-arc/aets/DCM4CHEE/rs/studies?limit=1",
    "/dcm4chee-arc/ui2/",
    "/app-config.js",
    "/api/studies?limit=1",
    "/ext/version",
    "/wado",
    "/exposcan-0123456789abcdef",
]
PROBE_PATHS += [f"{r}/studies?limit=1" for r in DICOMWEB_ROOTS]
PROBE_PATHS += [f"{p}/{s}" for p in PROXY_PREFIXES for s in ("system", "statistics")]
PROBE_PATHS += [f"{p}/studies?limit=100" for p in PROXY_PREFIXES]
PROBE_PATHS += [f"{p}/plugins/dicom-web" for p in PROXY_PREFIXES]

_WORDS = re.compile(
    r"studies|series|instances|patients|frames|rendered|thumbnail|bulkdata|pixeldata|file"
    r"|archive|media|preview|content|attachments|metadata|dic2png|dump|export|download|zip|wado"
)


@pytest.mark.parametrize("path", PROBE_PATHS)
def test_the_probes_own_paths_are_allowed_and_sent_as_checked(path):
    assert check_path(path) is path
    assert not RETRIEVAL.search(path)
    probe = Conversation("127.0.0.1", 8042, ScanOptions(), session=None, permit=None, scheme="http")  # type: ignore[arg-type]
    assert probe.url(path).raw_path_qs == path
    assert str(probe.url(path)) == f"http://127.0.0.1:8042{path}"


@SETTINGS
@given(
    st.from_regex(r"[A-Z0-9_ ]{1,16}", fullmatch=True).filter(
        lambda t: t.strip() and not _WORDS.fullmatch(t.strip().lower())
    ),
    st.integers(1, 10_000),
)
def test_dcm4chee_listings_of_plain_ae_titles_stay_allowed(title, limit):
    # An AE title escaped as dcm4chee() escapes it (PS3.5 AE: spaces are allowed).
    path = f"/dcm4chee-arc/aets/{quote(title, safe='')}/rs/studies?limit={limit}"
    assert check_path(path) is path


@SETTINGS
@given(st.text(max_size=80) | st.text(alphabet="/.;%25%2e\\?=&aAsS", max_size=40))
def test_whatever_is_allowed_is_sent_unchanged_and_reads_as_no_retrieval(path):
    try:
        allowed = check_path(path)
    except UnsafePathError:
        return
    assert allowed is path
    target = path.partition("?")[0]
    assert len(readings(target)) <= 2  # plain: lower case, and an escape of a plain char
    assert URL(f"http://127.0.0.1:80{path}", encoded=True).raw_path_qs == path
    assert not RETRIEVAL.search(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # RFC 3986 §5.2.4's own examples, and the edge cases of an absolute path.
        ("/a/b/c/./../../g", "/a/g"),
        ("mid/content=5/../6", "mid/6"),
        ("/..", "/"),
        ("/../../x", "/x"),
        ("/a/.", "/a/"),
        ("/a/..", "/"),
        ("/a/.b/..c", "/a/.b/..c"),
    ],
)
def test_dot_segments_are_removed_as_rfc_3986_says(path, expected):
    assert remove_dot_segments(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/a%u002Fb",  # IIS %u: not a percent-encoding
        "/a%2",
        "/a%3Fb",  # an encoded ? could end the path on a lenient server
        "/a%2523b",
        "/a%25252541",  # still encoded after MAX_DECODINGS
    ],
)
def test_what_cannot_be_read_one_way_is_refused(path):
    with pytest.raises(UnsafePathError):
        check_path(path)


@pytest.mark.parametrize(
    "path",
    ["http://127.0.0.1:8042/system", "//127.0.0.1:9/system", "127.0.0.1:9/system", "system", ""],
)
def test_absolute_and_authority_forms_are_refused(path):
    with pytest.raises(UnsafePathError):
        check_path(path)

"""The guard every request passes: no retrieval, no download, nothing but a plain path.

Never requested: images, frames, rendered or thumbnail views, bulk data, instance files,
archives, media, or any WADO retrieval. :func:`check_path` refuses them before a request
is built, whatever chose the path (the probe's own plan, an AE listing, a viewer's config),
in two rules:

1. **Decide on every reading.** Servers differ in how they map a request-target to a
   resource: some percent-decode once, some twice (a proxy, then the application); some
   are case-insensitive; Tomcat and Jetty strip ``;params`` from each segment (so
   ``/..;/`` is a dot segment to them); IIS and some Java containers take ``\\`` for
   ``/``; some collapse ``//`` before removing dot segments (RFC 3986 §5.2.4), some
   after. :func:`readings` computes each of these readings, in lower case, and a path
   is refused if any one of them names a retrieval resource. What cannot be read one way
   is refused outright: a control character, NUL or non-ASCII byte (raw or encoded, so no
   full-width or lookalike letters), a ``%`` that is not an escape (IIS ``%u002F``), an
   encoded ``?`` or ``#``, or escapes still left after :data:`MAX_DECODINGS` decodings.
2. **Send only what needs no reading.** The path that is sent must already be in normal
   form, up to letter case and the escapes of plain characters: no dot segment, no empty
   segment (``//``) except a trailing slash, no ``;``, no backslash, and no escape of
   ``/ \\ ? # ; % .`` or of a letter, digit, ``-``, ``_`` or ``~``. Every server then
   reads one resource from it, the one the guard decided on, and the path is sent
   exactly as checked (:func:`check_path` returns its argument itself).

A query is a short list of ``name=digits`` pairs with names from :data:`QUERY_NAMES` (the
``limit`` of a listing): no WADO-URI ``requestType``/``studyUID``/``contentType``, no
DICOMweb ``accept``, nothing encoded. The exceptions are whole queries from
:data:`LISTING_QUERIES` at the exact path each belongs to: PixelMed's patient list,
``/?requestType=PATIENTLIST``, and Conquest's, ``/cgi-bin/dgate?mode=querypatients``,
listings like QIDO-RS (counted, never kept), and Dicoogle's
``/search?query=*:*&keyword=true&psize=0`` (a total, nothing listed); any other
``requestType`` or query, and these anywhere else or with anything added, are refused.

:func:`request_guard` applies the guard once more inside the scan's HTTP session, on the
URL aiohttp is about to send, refuses any redirect it would follow (a peer's ``302``
to ``/wado?requestType=WADO`` or to another host or port), and refuses aiohttp's silent
second try of a request whose connection was closed (a request nobody granted or recorded).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Final
from urllib.parse import unquote_to_bytes

import aiohttp

__all__ = [
    "LISTING_QUERIES",
    "MAX_DECODINGS",
    "MAX_PATH",
    "PATH_CHARS",
    "QUERY_NAMES",
    "UnsafePathError",
    "check_path",
    "check_readings",
    "readings",
    "remove_dot_segments",
    "request_guard",
]


class UnsafePathError(ValueError):
    """A request the probe must never send (a retrieval, or not a plain path)."""


#: Longest path (with its query) the probe sends; its own are under 100 characters.
MAX_PATH: Final = 1024
#: Decodings :func:`readings` applies; a path still encoded after them is refused.
MAX_DECODINGS: Final = 4
#: Query parameters a request may carry (paging of a listing), each ``name=digits``.
QUERY_NAMES: Final = frozenset({"limit", "offset", "since"})

#: An absolute path of RFC 3986 pchars (§3.3, escapes ``%HH`` only) and an optional
#: query of ``name=value`` pairs without escapes.
PATH_CHARS: Final = re.compile(
    r"/(?:[A-Za-z0-9._~!$'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*(?:\?[A-Za-z0-9._~=&-]*)?"
)
_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})|%([0-9A-Fa-f]{2})")
#: Characters whose escape may be sent: those a segment cannot hold raw, and the
#: sub-delimiters that ``urllib.parse.quote(..., safe="")`` escapes (an AE title).
_PLAIN_ESCAPED: Final = frozenset(" \"<>[]^`{|}!$&'()*+,=:@")
#: Whole queries admitted at one exact path each: PixelMed's patient list (its web
#: server's RequestTypeServer; the list holds patients' IDs and names, which the probe
#: counts and drops), Dicoogle's search for everything with a page of none (its
#: SearchServlet answers the total alone: :mod:`~.dicoogle`) and Conquest's patient list
#: (dgate's mode=querypatients, counted and dropped: :mod:`~.conquest`). Compared
#: exactly, letter case included.
LISTING_QUERIES: Final = frozenset(
    {
        ("/", "requestType=PATIENTLIST"),
        ("/search", "query=*:*&keyword=true&psize=0"),
        ("/cgi-bin/dgate", "mode=querypatients"),
        ("/cgi-bin/dgate.exe", "mode=querypatients"),
    }
)
_QUERY_PAIR: Final = re.compile(r"([a-z]{1,16})=[0-9]{1,9}")

# Retrieval and rendering resources of PS3.18 and of the products' own downloads, over a
# reading (lower case, no query): any resource below a collection (WADO-RS
# /studies/{uid}..., Orthanc /instances/{id}/file, /studies/{id}/archive) and the
# listings below study level; a download word as the last segment or the one before it
# (frames/1, rendered, thumbnail, bulkdata, file, archive, media, preview; Dicoogle
# /dic2png, /dump, /export; an AE title such as ARCHIVE or MEDIA earlier in a dcm4chee
# path is not one); anything below /wado (WADO-URI, PS3.18 Chapter 9).
_RESOURCE: Final = re.compile(
    r"/(?:studies|series|instances|patients)/[^/]|/(?:series|instances|patients)/?$"
)
_DOWNLOAD: Final = re.compile(
    r"/(?:frames|rendered|thumbnail|bulkdata|pixeldata|file|archive|media|preview|content"
    r"|attachments|metadata|dic2png|dump|export|download|zip)(?:/[^/]*)?/?$"
)
_BELOW_WADO: Final = re.compile(r"/wado/")
_WADO: Final = re.compile(r"/wado/?$")


def check_path(path: str) -> str:
    """Return ``path`` itself if the probe may send it; raise :class:`UnsafePathError`."""
    target, _, query = path.partition("?")
    # a listing query is admitted whole (its own characters: Lucene's ``*:*``)
    plain = target if (target, query) in LISTING_QUERIES else path
    if len(path) > MAX_PATH or not PATH_CHARS.fullmatch(plain):
        raise UnsafePathError("not a plain absolute path")
    check_readings(path)
    _check_plain(path.partition("?")[0])
    return path


def check_readings(path: str) -> None:
    """Rule 1 alone: raise :class:`UnsafePathError` if any reading of ``path`` (a path
    and an optional query) is a retrieval, or if it cannot be read one way."""
    target, has_query, query = path.partition("?")
    if has_query and (target, query) not in LISTING_QUERIES:
        _check_query(query)
    for reading in readings(target):
        if _RESOURCE.search(reading) or _DOWNLOAD.search(reading) or _BELOW_WADO.search(reading):
            raise UnsafePathError("a retrieval or download resource")
        if has_query and _WADO.search(reading):
            raise UnsafePathError("a WADO-URI request with parameters")


def _check_query(query: str) -> None:
    for pair in query.split("&"):
        match = _QUERY_PAIR.fullmatch(pair)
        if match is None or match.group(1) not in QUERY_NAMES:
            raise UnsafePathError("a query parameter the probe never sends")


def _check_plain(target: str) -> None:
    """Rule 2: ``target`` needs no normalising, so every server reads it alike."""
    for match in _ESCAPE.finditer(target):
        if match.group(1) is None or chr(int(match.group(1), 16)) not in _PLAIN_ESCAPED:
            raise UnsafePathError("an escape that changes how the path is read")
    segments = target.split("/")[1:]
    if ";" in target or "\\" in target:
        raise UnsafePathError("path parameters or a backslash")
    if any(s in ("", ".", "..") for s in segments[:-1]) or segments[-1] in (".", ".."):
        raise UnsafePathError("a dot or empty segment")


def readings(target: str) -> frozenset[str]:
    """Every path a lenient server could read from ``target`` (no query), in lower case.

    Raises :class:`UnsafePathError` for what cannot be read one way (see rule 1 above).
    """
    levels = [_printable(target)]
    for _ in range(MAX_DECODINGS):
        decoded = _decode(levels[-1])
        if decoded == levels[-1]:
            break
        levels.append(decoded)
    else:
        raise UnsafePathError(f"still percent-encoded after {MAX_DECODINGS} decodings")
    found: set[str] = set()
    for level in levels:
        for text in {level, level.replace("\\", "/")}:
            for stripped in {text, _strip_params(text)}:
                found.add(_collapse(remove_dot_segments(stripped)).lower())
                found.add(remove_dot_segments(_collapse(stripped)).lower())
    return frozenset(found)


def _printable(text: str) -> str:
    if not all(" " <= ch <= "~" for ch in text):
        raise UnsafePathError("a control, NUL or non-ASCII character")
    return text


def _decode(text: str) -> str:
    """One percent-decoding (RFC 3986 §2.1) of printable ASCII into printable ASCII."""
    if any(m.group(1) is None for m in _ESCAPE.finditer(text)):
        raise UnsafePathError("a % that is not a percent-encoding")
    decoded = _printable(unquote_to_bytes(text).decode("latin-1"))
    if "?" in decoded or "#" in decoded:
        raise UnsafePathError("an encoded ? or #")
    return decoded


def _strip_params(text: str) -> str:
    return "/".join(segment.split(";", 1)[0] for segment in text.split("/"))


def _collapse(text: str) -> str:
    return re.sub(r"/{2,}", "/", text)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, as written (the input buffer is consumed from the left)."""
    output: list[str] = []
    rest = path
    while rest:
        if rest.startswith("../"):
            rest = rest[3:]
        elif rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("/./") or rest == "/.":
            rest = "/" + rest[3:]
        elif rest.startswith("/../") or rest == "/..":
            rest = "/" + rest[4:]
            if output:
                output.pop()
        elif rest in (".", ".."):
            rest = ""
        else:
            end = rest.find("/", 1)
            end = len(rest) if end < 0 else end
            output.append(rest[:end])
            rest = rest[end:]
    return "".join(output)


# --------------------------------------------------------------------------- in the session


async def _on_request_start(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestStartParams,
) -> None:
    if params.method != "GET":
        raise UnsafePathError("only GET is ever sent")
    if "Host" in params.headers:
        raise UnsafePathError("the Host header is the URL's own")
    check_path(params.url.raw_path_qs)


async def _once(session: aiohttp.ClientSession, context: SimpleNamespace, params: object) -> None:
    # aiohttp silently sends an idempotent request again when the first connection was
    # closed or reset without an answer: a second connection and request the engine never
    # granted and the probe never recorded. Refused with the error that would have ended
    # the request without the retry (the probe maps both to connection-closed).
    if getattr(context, "connected", False):
        raise aiohttp.ServerDisconnectedError("not sent a second time")
    context.connected = True


async def _on_request_redirect(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestRedirectParams,
) -> None:
    # aiohttp is about to follow a redirect: a request that forgot allow_redirects=False.
    # The target is the peer's choice (another path, host or port): never followed.
    raise UnsafePathError("a redirect is never followed")


def request_guard() -> aiohttp.TraceConfig:
    """A trace for the scan's session: :func:`check_path` on the URL about to be sent,
    GET only, the ``Host`` header from that URL, one connection per request (no silent
    retry), and no redirect ever followed (aiohttp closes the response and raises the
    error out of the request)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_on_request_start)
    trace.on_connection_create_start.append(_once)
    trace.on_connection_reuseconn.append(_once)
    trace.on_request_redirect.append(_on_request_redirect)
    trace.freeze()
    return trace

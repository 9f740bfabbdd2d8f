"""Viewers, PACS web UIs and portals: OHIF, Orthanc Explorer (1 and 2), dcm4chee-arc UI,
Kheops, Dicoogle, PixelMed's web server, Conquest's web interface, the Horos and OsiriX web
portals. Each is recognised by its own markers in the first bytes of a page (or by the
redirect at ``/``), from the table in ``exposcan/data/web_products.toml``
(:mod:`~.markers`), and, where it names a data API, that API is asked (same origin only).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from exposcan import peertext
from exposcan.probes.web import conquest, dicoogle, markers
from exposcan.probes.web.answer import MARKER_WINDOW
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.dicomweb import qido
from exposcan.probes.web.observation import Outcome, Product, Viewer, WebService
from exposcan.probes.web.orthanc import orthanc_in_server_header
from exposcan.probes.web.safety import PATH_CHARS

__all__ = ["dcm4chee_ui", "root", "viewer_apis", "viewers_in"]

#: How a check on a viewer's configured QIDO root names it: the root is the peer's text.
VIEWER_QIDO_ROOT: Final = "{viewer qidoRoot}"
#: Conquest's web interface is the CGI program dgate (webserver/cgi-bin of its sources);
#: its top page is titled "Conquest DICOM server - version X" (dgate.cpp).
_DGATE: Final = "/cgi-bin/dgate"
#: the CGI's name on Windows builds, where most Conquest servers run
_DGATE_EXE: Final = "/cgi-bin/dgate.exe"
_DGATE_LINK: Final = re.compile(rb"""["'/]cgi-bin/dgate(\.exe)?\b""", re.I)
_CONQUEST_VERSION: Final = re.compile(
    rb"<title>\s*Conquest DICOM server - version\s*([0-9][0-9A-Za-z.]{0,15})", re.I
)
#: dgate's pages carry the server they talk to in hidden form fields: ``port`` is
#: dicom.ini's TCPPort (dbsql.cpp; ``[webdefaults] port`` may set it) and ``address``
#: its WebServerFor, 127.0.0.1 unless set (dgate.cpp, the CGI's top page).
_CONQUEST_PORT: Final = re.compile(rb"<INPUT\s+NAME=port\s+TYPE=HIDDEN\s+VALUE=([0-9]{1,5})>", re.I)
_CONQUEST_ADDRESS: Final = re.compile(
    rb"<INPUT\s+NAME=address\s+TYPE=HIDDEN\s+VALUE=([^>\s]{1,64})>", re.I
)
#: The addresses that name the web host itself (another one is another host's port).
_THIS_HOST: Final = (b"127.0.0.1", b"localhost", b"::1")
_QIDO_ROOT: Final = re.compile(rb"""qidoRoot\s*:\s*["'`]([^"'`\s]{1,300})["'`]""")
_OIDC: Final = re.compile(rb"\boidc\s*:\s*\[\s*\{")


async def root(probe: Conversation) -> None:
    """``/``: viewer markers, the redirect a viewer answers with, the ``Server`` header."""
    answer = await probe.get("/", "root", accept="text/html,*/*;q=0.5")
    if answer is None:
        return
    probe.refusal(answer)
    if answer.location is not None and answer.status in (301, 302, 303, 307, 308):
        try:
            target = urlsplit(answer.location).path
        except ValueError:
            target = ""
        for entry in markers.viewers():
            if any(pattern.search(target) for pattern in entry.redirects):
                probe.identity.viewer(entry.viewer)
    if answer.status == 200:
        viewers_in(probe, answer.body)
        _conquest_version(probe, answer.body)
        link = _DGATE_LINK.search(answer.body[:MARKER_WINDOW])
        if link:
            probe.identity.conquest_cgi = _DGATE_EXE if link.group(1) else _DGATE
            await _conquest(probe)
    orthanc_in_server_header(probe)


def viewers_in(probe: Conversation, body: bytes) -> None:
    window = body[:MARKER_WINDOW]
    for entry in markers.viewers():
        if any(pattern.search(window) for pattern in entry.markers):
            probe.identity.viewer(entry.viewer)
            break


async def _conquest(probe: Conversation) -> None:
    """A page that links Conquest's CGI: its top page names the server (and version)."""
    if Viewer.CONQUEST_WEB in probe.identity.viewers:
        return
    page = await probe.get(probe.identity.conquest_cgi, "conquest-web", accept="text/html")
    if page is not None and page.status == 200 and not probe.same_as_baseline(page):
        viewers_in(probe, page.body)
        _conquest_version(probe, page.body)


def _conquest_version(probe: Conversation, body: bytes) -> None:
    window = body[:MARKER_WINDOW]
    match = _CONQUEST_VERSION.search(window)
    if match and Viewer.CONQUEST_WEB in probe.identity.viewers:
        version = peertext.version(match.group(1).decode("ascii"), product=True)
        probe.identity.add(Product.CONQUEST, version)
        # The DICOM port of the server this page serves, when that server is this host
        # (the address is compared, never kept).
        port, address = _CONQUEST_PORT.search(window), _CONQUEST_ADDRESS.search(window)
        if port and address and address.group(1).lower() in _THIS_HOST:
            probe.identity.dicom_port(int(port.group(1)))


async def dcm4chee_ui(probe: Conversation) -> None:
    """dcm4chee-arc's UI lives at ``/dcm4chee-arc/ui2/``."""
    ui = await probe.get("/dcm4chee-arc/ui2/", "dcm4chee-ui", accept="text/html")
    if ui is not None and ui.status == 200 and not probe.same_as_baseline(ui):
        viewers_in(probe, ui.body)


async def viewer_apis(probe: Conversation) -> None:
    """The data API each recognised viewer names, while nothing has listed studies yet."""
    identity = probe.identity
    if Viewer.OHIF in identity.viewers:
        await _ohif_config(probe)
    if Viewer.KHEOPS_UI in identity.viewers and not probe.checks.listed_anywhere():
        # Kheops serves its DICOMweb API at /api (KheopsDocumentation, docs/tokens).
        await qido(probe, "/api")
    if Viewer.CONQUEST_WEB in identity.viewers:
        await conquest.patient_list(probe)
    if Viewer.DICOOGLE_UI in identity.viewers:
        # Dicoogle's VersionResource: GET /ext/version -> {"version": "..."}.
        answer = await probe.get("/ext/version", "dicoogle-version", accept="application/json")
        version = probe.json(answer)
        if isinstance(version, dict) and isinstance(version.get("version"), str):
            said = peertext.version(version["version"], product=True)
            probe.checks.add(WebService.DICOOGLE, "/ext/version", Outcome.PRESENT)
            if identity.products[0] == Product.DICOOGLE:
                identity.version = identity.version or said
            await dicoogle.services(probe)
            await dicoogle.search_count(probe, said)


async def _ohif_config(probe: Conversation) -> None:
    """OHIF loads ``app-config.js``: its data sources name their ``qidoRoot``.

    Only a root on this very origin is probed; another origin may not be in scope.
    """
    answer = await probe.get(
        "/app-config.js", "ohif-config", accept="application/javascript, */*;q=0.5"
    )
    if answer is None or answer.status != 200 or probe.same_as_baseline(answer):
        return
    window = answer.body[:MARKER_WINDOW]
    probe.identity.viewer_login = _OIDC.search(window) is not None
    for match in _QIDO_ROOT.finditer(window):
        root_path = _same_origin_path(probe, match.group(1).decode("ascii", "replace"))
        if root_path is None:
            probe.identity.viewer_api_elsewhere = True
            continue
        if not probe.checks.listed_anywhere():
            await qido(probe, root_path, shown=VIEWER_QIDO_ROOT)


def _same_origin_path(probe: Conversation, value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        default = 443 if parts.scheme == "https" else 80
        try:
            port = parts.port or default
        except ValueError:
            return None
        scheme = probe.origin.scheme
        if (parts.scheme or scheme) != scheme or parts.hostname != probe.host:
            return None
        if port != probe.port:
            return None
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return path if PATH_CHARS.fullmatch(path) and len(path) <= 120 else None

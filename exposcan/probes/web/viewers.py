"""Viewers and PACS web UIs: OHIF, Orthanc Explorer (1 and 2), dcm4chee-arc UI, Kheops,
Dicoogle. Each is recognised by its own markers in the first bytes of a page (or by the
redirect at ``/``), and, where it names a data API, that API is asked (same origin only).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

from exposcan import peertext
from exposcan.probes.web.answer import MARKER_WINDOW
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.dicomweb import qido
from exposcan.probes.web.observation import Outcome, Product, Viewer, WebService
from exposcan.probes.web.orthanc import orthanc_in_server_header
from exposcan.probes.web.safety import PATH_CHARS

__all__ = ["dcm4chee_ui", "root", "viewer_apis", "viewers_in"]

#: (viewer, regex over the first bytes of an HTML page)
_VIEWER_MARKERS: Final = (
    (Viewer.OHIF, re.compile(rb"<title>\s*OHIF|content=\"OHIF Viewer\"|@ohif/app", re.I)),
    (Viewer.ORTHANC_EXPLORER_2, re.compile(rb"<title>\s*Orthanc Explorer 2", re.I)),
    (Viewer.ORTHANC_EXPLORER, re.compile(rb"<title>\s*Orthanc Explorer\s*<", re.I)),
    (Viewer.DCM4CHEE_UI, re.compile(rb"<title>\s*dcm4chee-arc|/dcm4chee-arc/ui2/", re.I)),
    (Viewer.KHEOPS_UI, re.compile(rb"<title>[^<]{0,40}kheops", re.I)),
    (Viewer.DICOOGLE_UI, re.compile(rb"<title>[^<]{0,40}dicoogle", re.I)),
)
#: Redirect targets of a root page that name the viewer behind it (Orthanc answers ``/``
#: with ``301 Location: app/explorer.html``; Orthanc Explorer 2 with ``ui/app/``).
_ROOT_REDIRECTS: Final = (
    (Viewer.ORTHANC_EXPLORER, re.compile(r"(?:^|/)app/explorer\.html$")),
    (Viewer.ORTHANC_EXPLORER_2, re.compile(r"(?:^|/)ui/app/?$")),
    (Viewer.DCM4CHEE_UI, re.compile(r"/dcm4chee-arc/ui2/?")),
)
#: How a check on a viewer's configured QIDO root names it: the root is the peer's text.
VIEWER_QIDO_ROOT: Final = "{viewer qidoRoot}"
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
        for viewer, pattern in _ROOT_REDIRECTS:
            if pattern.search(target):
                probe.identity.viewer(viewer)
    if answer.status == 200:
        viewers_in(probe, answer.body)
    orthanc_in_server_header(probe)


def viewers_in(probe: Conversation, body: bytes) -> None:
    window = body[:MARKER_WINDOW]
    for viewer, pattern in _VIEWER_MARKERS:
        if pattern.search(window):
            probe.identity.viewer(viewer)
            break


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
    if Viewer.DICOOGLE_UI in identity.viewers:
        # Dicoogle's VersionResource: GET /ext/version -> {"version": "..."}.
        answer = await probe.get("/ext/version", "dicoogle-version", accept="application/json")
        version = probe.json(answer)
        if isinstance(version, dict) and isinstance(version.get("version"), str):
            probe.checks.add(WebService.DICOOGLE, "/ext/version", Outcome.PRESENT)
            if identity.products[0] == Product.DICOOGLE:
                identity.version = identity.version or peertext.version(
                    version["version"], product=True
                )


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

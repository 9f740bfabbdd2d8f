"""Dicoogle's own APIs, asked once its web app has named it: the DICOM ports of its
services, and how many instances its index holds, counted by Dicoogle, never listed.

bioinformatics-ua/dicoogle (3.4.1, c55f72c) DicoogleWeb.java serves both with no
authentication: ``ServicesServlet`` at ``/management/dicom/storage`` and
``/management/dicom/query``, and ``SearchServlet`` at ``/search``. SearchServlet.doGet
takes a Lucene query (the web app's own "everything" is ``*:*``, requestHandler.js
getPatients) and a page size ``psize``; writeResponse walks every result, writes only
those inside the page, and reports the walk's length as ``numResults``. So
``/search?query=*:*&keyword=true&psize=0`` answers ``{"results": [], "numResults": N}``:
the index's
total, with no patient's data on the wire.

That holds from Dicoogle 2.4.0 on (bioinformatics-ua/dicoogle cee5f3bf, 2016: ``psize``
and ``offset``); earlier releases answer ``/search`` with every match's default fields
(patients' names and IDs among them), so the search is sent only to a Dicoogle whose
``/ext/version`` says 2.4.0 or later, never to one that names no version. The query
carries ``keyword=true``, as Dicoogle's own client sends it for ``*:*``
(dicoogle-client ``searchDIM``), so that no release reads it as free text. Dicoogle
still walks every match to count it: one search per scan, as its web app's own search
for everything does (that one also writes every match).
"""

from __future__ import annotations

import re
from typing import Final

from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.observation import Outcome, WebService

__all__ = ["PAGED_SINCE", "SEARCH", "pages", "search_count", "services"]

#: The one Dicoogle query; the request guard admits it at ``/search`` and nowhere else
#: (:data:`~.safety.LISTING_QUERIES`).
SEARCH: Final = "/search?query=*:*&keyword=true&psize=0"
#: The first release whose search honours ``psize`` (see the module's text).
PAGED_SINCE: Final = (2, 4, 0)
_RELEASE: Final = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})(?:\.([0-9]{1,4}))?")
#: Dicoogle's DICOM service status, storage then query/retrieve (ServicesServlet).
_SERVICES: Final = ("/management/dicom/storage", "/management/dicom/query")


async def services(probe: Conversation) -> None:
    """The DICOM ports Dicoogle says its services run on, which its DICOM side's title
    order reads through host evidence (:mod:`exposcan.probes.aetitle_order`, group 2).

    A GET answers ``{"isRunning": bool, "port": int, "autostart": bool}``
    (ServicesServlet.java doGet). Only the port of a running service is kept; the
    answer is dropped. A Dicoogle that asks for a login there (an authenticating build)
    answers 401/403, and nothing is learnt.
    """
    for path in _SERVICES:
        answer = await probe.get(path, "dicoogle-service", accept="application/json")
        status = probe.json(answer)
        if isinstance(status, dict) and status.get("isRunning") is True:
            probe.identity.dicom_port(status.get("port"))
        del status


def pages(version: str | None) -> bool:
    """Whether the Dicoogle release ``version`` (``/ext/version``) honours ``psize``."""
    match = _RELEASE.match(version or "")
    if match is None:
        return False
    major, minor, patch = (int(part or 0) for part in match.groups())
    return (major, minor, patch) >= PAGED_SINCE


async def search_count(probe: Conversation, version: str | None) -> None:
    """How many instances Dicoogle's index answers a stranger's search with (only a
    release that :func:`pages` is asked)."""
    if not pages(version):
        return
    answer = await probe.get(SEARCH, "dicoogle-search", accept="application/json")
    if answer is None:
        return
    found = probe.json(answer)
    total = found.get("numResults") if isinstance(found, dict) else None
    listed = isinstance(found, dict) and isinstance(found.get("results"), list)
    del found  # a Dicoogle that ignored psize sent results: counted below, never kept
    if answer.status == 200 and listed and _count(total):
        assert isinstance(total, int)
        probe.checks.add(
            WebService.DICOOGLE_SEARCH,
            SEARCH,
            Outcome.LISTED if total else Outcome.EMPTY,
            instances=total,
            exact=True,
        )
        return
    refused = probe.refusal(answer)
    if refused in (Outcome.REFUSED, Outcome.LOGIN):
        probe.checks.add(WebService.DICOOGLE_SEARCH, SEARCH, refused)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 53

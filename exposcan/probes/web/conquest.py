"""Conquest's web interface: its patient list, counted, never kept.

Conquest's web interface is the CGI program dgate (marcelvanherk/Conquest-DICOM-Server
019d7d5, src/dgate/src/dgate.cpp), which checks no credential of its own: whoever
reaches ``cgi-bin/dgate`` reaches the database (a web server may guard it). Its top page's
first form is ``mode=querypatients``; without a ``query`` that mode answers "List of all
patients on local server", one table row per patient (ID, name, sex, birth date), each
linking ``mode=querystudies`` for that patient. The probe asks that list only once the
top page has shown Conquest, counts the rows' links and drops the page.
"""

from __future__ import annotations

from typing import Final

from exposcan.probes.web.answer import MARKER_WINDOW
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.observation import Outcome, Viewer, WebService

__all__ = ["PATIENT_LIST", "QUERY", "patient_list"]

#: The one dgate request beyond its top page (``dgate.exe`` where the pages link that);
#: the request guard admits this query at the CGI and nowhere else
#: (:data:`~.safety.LISTING_QUERIES`).
QUERY: Final = "mode=querypatients"
PATIENT_LIST: Final = "/cgi-bin/dgate?" + QUERY
#: The list's caption (dgate.cpp, mode querypatients without a query) and the link each
#: patient's row carries to that patient's studies.
_CAPTION: Final = b"<caption>list of all patients on local server</caption>"
_ROW_LINK: Final = b"&mode=querystudies&"


async def patient_list(probe: Conversation) -> None:
    """Count Conquest's patients: ``GET /cgi-bin/dgate?mode=querypatients``, rows counted."""
    if Viewer.CONQUEST_WEB not in probe.identity.viewers:
        return
    path = f"{probe.identity.conquest_cgi}?{QUERY}"
    answer = await probe.get(path, "conquest-patient-list", accept="text/html")
    if answer is None:
        return
    body = answer.body
    if (
        answer.status == 200
        and _CAPTION in body[:MARKER_WINDOW].lower()
        and not probe.same_as_baseline(answer)
    ):
        count = body.count(_ROW_LINK)
        probe.checks.add(
            WebService.CONQUEST_PATIENT_LIST,
            path,
            Outcome.LISTED if count else Outcome.EMPTY,
            patients=count,
            # A list longer than the body cap: at least this many patients.
            cap=count if answer.truncated else None,
        )
        return
    refused = probe.refusal(answer)
    if refused in (Outcome.REFUSED, Outcome.LOGIN):
        probe.checks.add(WebService.CONQUEST_PATIENT_LIST, path, refused)

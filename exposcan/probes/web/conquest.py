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

from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.observation import Viewer, WebService
from exposcan.probes.web.rows import count_rows

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
    if Viewer.CONQUEST_WEB in probe.identity.viewers:
        await count_rows(
            probe,
            f"{probe.identity.conquest_cgi}?{QUERY}",
            "conquest-patient-list",
            WebService.CONQUEST_PATIENT_LIST,
            header=_CAPTION,
            row=_ROW_LINK,
            fold_case=True,
        )

"""PixelMed's web server: its patient list, counted, never kept.

PixelMed's ``DicomAndWebStorageServer`` (Debian ``pixelmed-apps``/``libpixelmed-java``,
package ``com.pixelmed.web``) serves its database to anyone who reaches its web port:
``GET /`` is an index page linking ``?requestType=PATIENTLIST``; that list is one table
row per patient (Patient's ID and Name), each linking
``?requestType=STUDYLIST&primaryKey=...`` (``PatientListRequestHandler``); the study,
series and instance lists need a key from the list above, and ``requestType=WADO``
retrieves images. The probe asks the patient list only, and only once the index page has
shown PixelMed; it counts the rows' links and drops the page. Every path the server does
not serve is answered with a bare status line and a close (``RequestHandler``), which the
request helper reads as an answer (:func:`~.conversation._bare_status`).
"""

from __future__ import annotations

from typing import Final

from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.observation import Viewer, WebService
from exposcan.probes.web.rows import count_rows

__all__ = ["PATIENT_LIST", "patient_list"]

#: The one PixelMed request beyond its index page; the request guard admits this query
#: at ``/`` and nowhere else (:data:`~.safety.LISTING_QUERIES`).
PATIENT_LIST: Final = "/?requestType=PATIENTLIST"
#: The list's header row, and the link each patient's row carries (PatientListRequestHandler).
_HEADER: Final = b"<th>Patient's ID</th>"
_ROW_LINK: Final = b"?requestType=STUDYLIST&primaryKey="


async def patient_list(probe: Conversation) -> None:
    """Count PixelMed's patients: ``GET /?requestType=PATIENTLIST``, rows counted."""
    if Viewer.PIXELMED_WEB in probe.identity.viewers:
        await count_rows(
            probe,
            PATIENT_LIST,
            "pixelmed-patient-list",
            WebService.PIXELMED_PATIENT_LIST,
            header=_HEADER,
            row=_ROW_LINK,
        )

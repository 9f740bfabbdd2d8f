"""DICOMweb: QIDO-RS at the usual roots, dcm4chee-arc's per-AE roots, WADO-URI presence.

QIDO-RS Search for Studies is asked for one result only, ``GET {root}/studies?limit=1``
(PS3.18 §10.6, the ``limit`` parameter of §8.3.4.4, ``application/dicom+json`` of PS3.18
Annex F); a match is an object carrying Study Instance UID (0020000D), counted and then
dropped with every other value. WADO-URI is asked for without parameters, which is never
a retrieval.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from exposcan.probes.web.answer import Answer, json_of
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.observation import Outcome, Product, WebService
from exposcan.probes.web.safety import UnsafePathError, check_path

__all__ = [
    "DCM4CHEE_DEFAULT_ROOT",
    "DICOMWEB_ROOTS",
    "PROXY_PREFIXES",
    "dcm4chee",
    "dicomweb",
    "qido",
    "qido_count",
    "wado",
]

#: Reverse-proxy prefixes tried for Orthanc's ``/system`` and its ``/dicom-web`` root: the
#: Orthanc Book's nginx recipe (``location /orthanc/``), and two common ones.
PROXY_PREFIXES: Final = ("/orthanc", "/pacs", "/dicomweb")
#: DICOMweb roots tried until one lists studies: Orthanc's default, the common
#: ``/dicomweb``, then Orthanc's root behind each proxy prefix.
DICOMWEB_ROOTS: Final = ("/dicom-web", "/dicomweb", *(f"{p}/dicom-web" for p in PROXY_PREFIXES))
DICOM_JSON: Final = "application/dicom+json"
_STUDY_UID_TAG: Final = b'"0020000D"'
_DEFAULT_AET: Final = "DCM4CHEE"
#: dcm4chee-arc's DICOMweb root for its default AE (asked without the AE listing only
#: behind an authentication wall, where the listing is refused like everything else).
DCM4CHEE_DEFAULT_ROOT: Final = f"/dcm4chee-arc/aets/{_DEFAULT_AET}/rs"
_AE_TITLE: Final = re.compile(r"[ -\[\]-~]{1,16}")  # PS3.5 AE: default repertoire, no backslash


async def dcm4chee(probe: Conversation) -> bool:
    """dcm4chee-arc-light: ``GET /dcm4chee-arc/aets`` lists the archive's AEs (JSON,
    ``dicomAETitle`` in 5.x, ``title`` in older releases; QueryAETs.java), and each
    AE's DICOMweb services live under ``/dcm4chee-arc/aets/{AET}/rs/``. True when the
    archive showed itself (listed its AEs, or refused the listing alone)."""
    path = "/dcm4chee-arc/aets"
    answer = await probe.get(path, "dcm4chee-aets", accept="application/json")
    if answer is None:
        return False
    listing = probe.json(answer)
    titles: list[str] = []
    if isinstance(listing, list):
        for entry in listing[:64]:
            if isinstance(entry, dict):
                title = entry.get("dicomAETitle", entry.get("title"))
                if isinstance(title, str) and _AE_TITLE.fullmatch(title):
                    titles.append(title)
    del listing
    if not titles:
        outcome = probe.refusal(answer)
        if outcome not in (Outcome.REFUSED, Outcome.LOGIN):
            return False
        probe.identity.add(Product.DCM4CHEE)
        probe.checks.add(WebService.DCM4CHEE_ARC, path, outcome)
        return True
    probe.identity.add(Product.DCM4CHEE)
    probe.checks.add(WebService.DCM4CHEE_ARC, path, Outcome.PRESENT)
    # The archive's default AE is DCM4CHEE (dcm4chee-arc-light wiki, docker images); any
    # other title is the peer's text, named by a placeholder in the report.
    aet = _DEFAULT_AET if _DEFAULT_AET in titles else titles[0]
    await qido(
        probe,
        f"/dcm4chee-arc/aets/{quote(aet, safe='')}/rs",
        shown=None if aet == _DEFAULT_AET else "/dcm4chee-arc/aets/{AET}/rs",
    )
    return True


async def dicomweb(probe: Conversation) -> None:
    """The common DICOMweb roots, until one lists studies."""
    for root in DICOMWEB_ROOTS:
        if probe.checks.listed_anywhere():
            return
        await qido(probe, root)


async def qido(probe: Conversation, root: str, *, shown: str | None = None) -> None:
    """QIDO-RS Search for Studies, one result: ``GET {root}/studies?limit=1``.

    ``shown``: how the check names ``root`` when a peer chose it (an AE title it listed,
    a viewer's configuration): a placeholder, so the peer's text is never reported.
    A root already asked (or unsafe) is skipped, but on an endpoint that has ended this
    stops the plan as the request would have."""
    probe.stop_if_ended()
    path = f"{root.rstrip('/')}/studies?limit=1"
    reported = f"{(shown or root).rstrip('/')}/studies?limit=1"
    asked = probe.checks.qido_paths
    if path in asked:
        return
    try:
        check_path(path)  # roots come from peers (an AE listing, a viewer's config)
    except UnsafePathError:
        return
    asked.add(path)
    answer = await probe.get(path, "qido-studies", accept=DICOM_JSON)
    if answer is None:
        return
    count = None if probe.same_as_baseline(answer) else qido_count(answer)
    if count is not None:
        outcome = Outcome.LISTED if count else Outcome.EMPTY
        probe.checks.add(WebService.DICOMWEB_QIDO, reported, outcome, studies=count, cap=1)
        return
    base = probe.baseline.answer
    if answer.status == 204 and not (base is not None and base.status == 204):
        # PS3.18 §8.3.3.1 lets a search with no match answer 204 No Content.
        probe.checks.add(WebService.DICOMWEB_QIDO, reported, Outcome.EMPTY, studies=0, cap=1)
        return
    refused = probe.refusal(answer)
    if refused in (Outcome.REFUSED, Outcome.LOGIN):
        probe.checks.add(WebService.DICOMWEB_QIDO, reported, refused)


def qido_count(answer: Answer) -> int | None:
    """How many studies a QIDO-RS answer holds, or None if it is not one."""
    if answer.status != 200 or answer.content_type not in (DICOM_JSON, "application/json"):
        return None
    if answer.truncated:
        # Too long to parse: count Study Instance UID keys in what was read.
        count = answer.body.count(_STUDY_UID_TAG)
        return count if count and answer.content_type == DICOM_JSON else None
    value = json_of(answer)
    if not isinstance(value, list):
        return None
    if not value:
        return 0 if answer.content_type == DICOM_JSON else None
    matches = sum(1 for item in value if isinstance(item, dict) and "0020000D" in item)
    return matches or None


async def wado(probe: Conversation) -> None:
    """WADO-URI presence: ``GET /wado`` with no parameters (PS3.18 Chapter 9, URI
    Service; ``requestType=WADO`` is required, so a service answers 400 or names the
    missing parameter). Never sent with parameters: that would be a retrieval."""
    answer = await probe.get("/wado", "wado-uri", accept="*/*")
    if answer is None:
        return
    base = probe.baseline.answer
    window = answer.body[:4096].lower()
    # A 400 only here, or an error page that names requestType.
    asks_for_parameters = answer.status == 400 and (base is None or base.status != 400)
    names_parameter = (
        b"requesttype" in window
        and not probe.same_as_baseline(answer)
        and not (probe.baseline.catch_all and answer.status == 200)
    )
    if asks_for_parameters or names_parameter:
        probe.checks.add(WebService.WADO_URI, "/wado", Outcome.PRESENT)
    else:
        outcome = probe.refusal(answer)
        if outcome in (Outcome.REFUSED, Outcome.LOGIN):
            probe.checks.add(WebService.WADO_URI, "/wado", outcome)

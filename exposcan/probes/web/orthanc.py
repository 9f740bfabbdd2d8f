"""Orthanc's REST API: ``/system`` (product and version), a study count, the DICOMweb plugin.

Orthanc REST API reference (https://orthanc.uclouvain.be/api/): ``GET /system`` returns
``Name``, ``Version``, ``ApiVersion``, ``DicomAet``...; ``GET /statistics`` returns
``CountStudies`` (and patients, series, instances, disk sizes); ``GET /studies`` lists
study identifiers and accepts ``limit`` and ``since``; ``GET /plugins/{id}`` describes a
loaded plugin (``ID``, ``Version``, ``Description``). See also the Orthanc Book, "REST API
of the Orthanc server" (https://orthanc.uclouvain.be/book/users/rest.html).

Behind a reverse proxy Orthanc often lives under a prefix: the Orthanc Book's nginx recipe
serves it at ``/orthanc/`` (https://orthanc.uclouvain.be/book/faq/nginx.html); ``/pacs/``
and ``/dicomweb/`` are common too (:data:`~exposcan.probes.web.dicomweb.PROXY_PREFIXES`).
Each prefix costs one ``/system`` request, and only while Orthanc has not been seen.
"""

from __future__ import annotations

import re
from typing import Final

from exposcan import peertext
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.dicomweb import PROXY_PREFIXES, qido
from exposcan.probes.web.observation import DefaultCredential, Outcome, Product, WebService

__all__ = ["find_orthanc", "orthanc", "orthanc_in_server_header"]

_ORTHANC_SERVER: Final = re.compile(
    r"\bOrthanc\b(?:/([0-9][0-9A-Za-z._+-]{0,31}))?", re.IGNORECASE | re.ASCII
)
#: The DICOMweb plugin's identifier (``GET /plugins`` lists it; OrthancDicomWeb Plugin.cpp).
_DICOMWEB_PLUGIN_ID: Final = "dicom-web"


def orthanc_in_server_header(probe: Conversation) -> None:
    """Orthanc's own HTTP server may name itself (and its version) in ``Server``."""
    server = probe.log.server
    if server and (match := _ORTHANC_SERVER.search(server)):
        probe.identity.add(Product.ORTHANC, match.group(1))


async def find_orthanc(probe: Conversation) -> None:
    """``/system`` at the root, then under each reverse-proxy prefix until Orthanc shows."""
    await orthanc(probe)
    if probe.baseline.short_plan:
        return
    for prefix in PROXY_PREFIXES:
        if probe.checks.has(WebService.ORTHANC_REST):
            return
        await orthanc(probe, prefix=prefix)


async def orthanc(
    probe: Conversation, credential: DefaultCredential | None = None, *, prefix: str = ""
) -> bool:
    """Orthanc's ``/system``, then a study count and its plugin; True when Orthanc answered."""
    path = f"{prefix}/system"
    answer = await probe.get(
        path, "orthanc-system", accept="application/json", credential=credential
    )
    if answer is None:
        return False
    identity = probe.identity
    system = probe.json(answer)
    if not (
        isinstance(system, dict)
        and isinstance(system.get("Version"), str)
        and ("ApiVersion" in system or "DicomAet" in system)
    ):
        if credential is None:
            outcome = probe.refusal(answer)
            if outcome is not None and Product.ORTHANC in identity.products:
                # Orthanc's realm: this refusal is Orthanc's REST API itself.
                identity.orthanc_prefix = prefix
                refused = Outcome.REFUSED if outcome == Outcome.WALLED else outcome
                probe.checks.add(WebService.ORTHANC_REST, path, refused)
        return False
    version = system["Version"]
    identity.dicom_port(system.get("DicomPort"))  # names the product behind that port
    identity.lead(Product.ORTHANC)
    if identity.version is None:
        identity.version = peertext.version(version, product=True)
    identity.orthanc_prefix = prefix
    del system, answer
    short_plan = probe.baseline.short_plan
    asks_count = not short_plan or credential is not None
    if asks_count and not await _count(probe, credential, prefix):
        probe.checks.add(
            WebService.ORTHANC_REST, path, Outcome.PRESENT, with_credentials=credential is not None
        )
    if credential is None and not short_plan:
        await _dicomweb_plugin(probe, prefix)
        # The DICOMweb plugin's default root (its "Root" option): /dicom-web/.
        await qido(probe, f"{prefix}/dicom-web")
    return True


async def _count(probe: Conversation, credential: DefaultCredential | None, prefix: str) -> bool:
    with_credentials = credential is not None
    path = f"{prefix}/statistics"
    answer = await probe.get(
        path, "orthanc-statistics", accept="application/json", credential=credential
    )
    statistics = probe.json(answer)
    count = statistics.get("CountStudies") if isinstance(statistics, dict) else None
    del statistics
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        probe.checks.add(
            WebService.ORTHANC_REST,
            path,
            Outcome.LISTED if count else Outcome.EMPTY,
            studies=count,
            exact=True,
            cap=probe.options.max_matches,
            with_credentials=with_credentials,
        )
        return True
    cap = probe.options.max_matches
    path = f"{prefix}/studies?limit={cap}"
    answer = await probe.get(
        path, "orthanc-studies", accept="application/json", credential=credential
    )
    studies = probe.json(answer)
    if isinstance(studies, list) and all(isinstance(s, str) for s in studies):
        n = len(studies)
        del studies
        probe.checks.add(
            WebService.ORTHANC_REST,
            path,
            Outcome.LISTED if n else Outcome.EMPTY,
            studies=n,
            cap=cap,
            with_credentials=with_credentials,
        )
        return True
    return False


async def _dicomweb_plugin(probe: Conversation, prefix: str) -> None:
    """``GET /plugins/dicom-web``: the plugin's ID and version (metadata only).

    The plugin also serves WADO-URI at ``/wado``, which answers 404 to a request without
    parameters, so this is the way to see it.
    """
    path = f"{prefix}/plugins/{_DICOMWEB_PLUGIN_ID}"
    answer = await probe.get(path, "orthanc-plugin", accept="application/json")
    plugin = probe.json(answer)
    if isinstance(plugin, dict) and plugin.get("ID") == _DICOMWEB_PLUGIN_ID:
        version = plugin.get("Version")
        probe.checks.add(
            WebService.ORTHANC_DICOMWEB_PLUGIN,
            path,
            Outcome.PRESENT,
            version=peertext.version(version, product=True),
        )

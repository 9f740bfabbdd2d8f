"""``probe_web``: one web endpoint, a short fixed plan of GET requests, one observation.

One endpoint costs at most :data:`~exposcan.probes.web.facts.MAX_REQUESTS` requests, each
granted by ``permit`` (the engine's rate limits) and each body read through a cap. In order:

1. a random path: the scheme and the baseline (:mod:`~exposcan.probes.web.scheme`); an
   authentication wall there shortens the plan to steps 2, 3' and 5;
2. ``/`` (viewer markers, redirects; PixelMed's patient list once its index page showed,
   :mod:`~.pixelmed`) and Orthanc's ``/system`` at the root, then under the
   reverse-proxy prefixes while Orthanc has not shown (:mod:`~.orthanc`);
3. the data APIs: Orthanc ``/statistics`` (or ``/studies?limit=N``) and its DICOMweb
   plugin, dcm4chee-arc's ``/dcm4chee-arc/aets/{AET}/rs``, QIDO-RS ``studies?limit=1``
   at the common roots (:mod:`~.dicomweb`), a viewer's own configured QIDO root (same
   origin only), Kheops' ``/api``, Dicoogle's version, the ports of its DICOM services
   and its index's own count (:mod:`~.dicoogle`), Conquest's patient list
   (:mod:`~.conquest`; both once the product has shown, from :mod:`~.viewers`; a DICOM
   port a product names, Dicoogle's or the one on Conquest's top page, becomes host
   evidence for the DICOM probe);
3'. behind an authentication wall, the QIDO-RS roots alone (the common ones and
   dcm4chee-arc's default AE) and ``/wado``: a proxy that asks for credentials on every
   path but its DICOMweb ``location`` hides an open QIDO-RS;
4. ``/wado`` without parameters (WADO-URI presence, never a retrieval);
5. with ``ScanOptions.try_default_credentials`` only: the identified product's documented
   default credentials, once per credential pair and host for the scan (:mod:`~.credentials`).

Every request goes through :meth:`~exposcan.probes.web.conversation.Conversation.get`,
which refuses it once the endpoint has stopped answering (two failures in a row, a refusal
or a timeout) and so ends the plan. Like :mod:`exposcan.probes.dimse`, the probe returns
an observation whatever the network does; it never raises for a network condition.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import aiohttp

from exposcan.options import ScanOptions
from exposcan.probe import Permit
from exposcan.probes.web.answer import EndpointEnded
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.credentials import CredentialLedger, try_default_credentials
from exposcan.probes.web.dicomweb import DCM4CHEE_DEFAULT_ROOT, dcm4chee, dicomweb, qido, wado
from exposcan.probes.web.facts import MAX_REQUESTS
from exposcan.probes.web.observation import (
    Outcome,
    WebObservation,
    WebService,
    auth_scheme_name,
)
from exposcan.probes.web.orthanc import find_orthanc
from exposcan.probes.web.pixelmed import patient_list
from exposcan.probes.web.scheme import establish, schemes_for
from exposcan.probes.web.viewers import dcm4chee_ui, root, viewer_apis
from exposcan.results import TlsFacts
from exposcan.vocabulary import Protocol, Status

__all__ = ["probe_web"]


async def probe_web(
    host: str,
    port: int,
    options: ScanOptions,
    *,
    session: aiohttp.ClientSession,
    permit: Permit | None = None,
    ledger: CredentialLedger | None = None,
) -> WebObservation:
    """Probe one web endpoint within ``options.timeouts.endpoint`` (from the first permit).

    ``ledger`` is the scan's record of default credentials tried (the engine passes one per
    scan); without one, this call keeps its own, so it still tries each pair once at most.
    """
    started = time.monotonic()
    probe = Conversation(host, port, options, session, permit, scheme=schemes_for(port)[0])
    await probe.take_first_permit()
    deadline = asyncio.get_running_loop().time() + options.timeouts.endpoint
    timed_out = False
    try:
        async with asyncio.timeout_at(deadline):
            await _plan(probe, ledger if ledger is not None else CredentialLedger())
    except EndpointEnded:
        pass
    except TimeoutError:
        timed_out = True
    return _observation(probe, started, timed_out)


async def _plan(probe: Conversation, ledger: CredentialLedger) -> None:
    await establish(probe)
    await root(probe)
    await patient_list(probe)
    await find_orthanc(probe)
    open_orthanc = probe.checks.has(
        WebService.ORTHANC_REST, Outcome.LISTED, Outcome.EMPTY, Outcome.PRESENT
    )
    short_plan = probe.baseline.short_plan
    if not open_orthanc and not short_plan and await dcm4chee(probe):
        await dcm4chee_ui(probe)
    if not short_plan:
        await dicomweb(probe)
        await viewer_apis(probe)
        await wado(probe)
    elif not open_orthanc:
        # nginx ``location / { auth_basic ...; } location /dicom-web/ { ... }``: the wall
        # may leave the DICOMweb roots open. Each is asked once; a 401 there is WALLED.
        await dicomweb(probe)
        await qido(probe, DCM4CHEE_DEFAULT_ROOT)
        await wado(probe)
    await try_default_credentials(probe, ledger)


def _observation(probe: Conversation, started: float, timed_out: bool) -> WebObservation:
    status, detail = Status.SUCCESS, None
    origin, log, identity = probe.origin, probe.log, probe.identity
    tls = origin.tls
    if log.answered == 0:
        failure = log.failures[-1] if log.failures else None
        if timed_out or failure is None:
            status, detail = Status.IO_TIMEOUT, "endpoint deadline reached"
        else:
            status, detail = failure.status, failure.detail
            if failure.client_certificate_required:
                tls = replace(tls or TlsFacts(), client_certificate_required=True)
    elif timed_out:
        detail = f"endpoint deadline reached after {len(log.records)} request(s)"
    elif len(log.records) >= MAX_REQUESTS:
        detail = f"request budget of {MAX_REQUESTS} spent"
    elif bare := sum(1 for r in log.records if r.bare_status):
        # Not "closed without an answer": the status line came, the headers never ended.
        detail = f"{bare} answer(s) were a bare status line, then the connection closed"
    return WebObservation(
        host=origin.host,
        port=origin.port,
        protocol=Protocol.HTTPS if origin.scheme == "https" else Protocol.HTTP,
        status=status,
        detail=detail,
        requests=tuple(log.records),
        product=identity.products[0] if identity.products else None,
        version=identity.version if identity.products else None,
        tls=tls,
        duration_s=time.monotonic() - started,
        server=log.server,
        catch_all=probe.baseline.catch_all,
        auth_wall=probe.baseline.auth_wall,
        checks=tuple(probe.checks),
        viewers=tuple(identity.viewers),
        viewer_login=identity.viewer_login,
        viewer_api_elsewhere=identity.viewer_api_elsewhere,
        auth_schemes=tuple(dict.fromkeys(auth_scheme_name(c) for c in log.challenges)),
        login_redirect=identity.login_redirect,
        credentials=probe.credential_try,
        scheme_fallback=origin.fallback,
        dicom_ports=tuple(identity.dicom_ports),
    )

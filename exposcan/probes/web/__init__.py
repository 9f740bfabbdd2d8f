"""The web probe: Orthanc REST, DICOMweb (QIDO-RS, WADO-URI) and viewers over HTTP(S).

Modules, in the order a probe uses them:

- :mod:`.observation`: the closed vocabularies and the frozen records a probe returns;
- :mod:`.safety`: :func:`check_path`, the guard every request passes (no retrieval, ever);
- :mod:`.session`: the scan's aiohttp session, the body cap, the connections of a request
  and their TLS facts; :mod:`.connector`: its TCP connects through the scan's connect
  policy (adaptive timeouts, answers, first contact); :mod:`.failures`: every network
  condition as a status;
- :mod:`.answer`: one answer or failure, and readings of it (JSON, login redirects);
- :mod:`.facts`: what one endpoint has shown so far, as typed facts with one owner each;
- :mod:`.conversation`: one endpoint's conversation, the one request helper (which refuses
  a request once the endpoint has ended or its budget is spent);
- :mod:`.scheme`: HTTP or HTTPS, the random-path baseline (SPA screen, auth wall), the
  bare TLS handshake;
- :mod:`.orthanc`, :mod:`.dicomweb`, :mod:`.viewers`, :mod:`.pixelmed`, :mod:`.dicoogle`,
  :mod:`.conquest`: what each product shows a stranger (:mod:`.rows`: a patient list's
  rows counted); :mod:`.markers`: the product
  table (``exposcan/data/web_products.toml``: page markers, root redirects and realms,
  each with its source);
- :mod:`.credentials`: documented default credentials (off by default; once per pair and host);
- :mod:`.probe`: :func:`probe_web`, the plan.

Bodies are parsed for counts, product names and versions, then dropped.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exposcan.probes.web.credentials import DEFAULT_CREDENTIALS, CredentialLedger
    from exposcan.probes.web.facts import MAX_REQUESTS
    from exposcan.probes.web.observation import (
        CredentialOutcome,
        CredentialTry,
        DefaultCredential,
        LoginRedirect,
        Outcome,
        Product,
        RequestRecord,
        ServiceCheck,
        Viewer,
        WebObservation,
        WebService,
    )
    from exposcan.probes.web.probe import probe_web
    from exposcan.probes.web.safety import UnsafePathError, check_path
    from exposcan.probes.web.scheme import HTTPS_FIRST_PORTS, schemes_for
    from exposcan.probes.web.session import MAX_BODY_BYTES, USER_AGENT, make_web_session

#: Where each name lives, imported on first use (PEP 562): the web verdict
#: (:mod:`exposcan.classify_web`) reads the observation records without loading
#: aiohttp, the session or the transport.
_PUBLIC: dict[str, str] = {
    "DEFAULT_CREDENTIALS": "exposcan.probes.web.credentials",
    "CredentialLedger": "exposcan.probes.web.credentials",
    "CredentialOutcome": "exposcan.probes.web.observation",
    "CredentialTry": "exposcan.probes.web.observation",
    "DefaultCredential": "exposcan.probes.web.observation",
    "LoginRedirect": "exposcan.probes.web.observation",
    "Outcome": "exposcan.probes.web.observation",
    "Product": "exposcan.probes.web.observation",
    "RequestRecord": "exposcan.probes.web.observation",
    "ServiceCheck": "exposcan.probes.web.observation",
    "Viewer": "exposcan.probes.web.observation",
    "WebObservation": "exposcan.probes.web.observation",
    "WebService": "exposcan.probes.web.observation",
    "probe_web": "exposcan.probes.web.probe",
    "UnsafePathError": "exposcan.probes.web.safety",
    "check_path": "exposcan.probes.web.safety",
    "HTTPS_FIRST_PORTS": "exposcan.probes.web.scheme",
    "schemes_for": "exposcan.probes.web.scheme",
    "MAX_BODY_BYTES": "exposcan.probes.web.session",
    "MAX_REQUESTS": "exposcan.probes.web.facts",
    "USER_AGENT": "exposcan.probes.web.session",
    "make_web_session": "exposcan.probes.web.session",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_CREDENTIALS",
    "HTTPS_FIRST_PORTS",
    "MAX_BODY_BYTES",
    "MAX_REQUESTS",
    "USER_AGENT",
    "CredentialLedger",
    "CredentialOutcome",
    "CredentialTry",
    "DefaultCredential",
    "LoginRedirect",
    "Outcome",
    "Product",
    "RequestRecord",
    "ServiceCheck",
    "UnsafePathError",
    "Viewer",
    "WebObservation",
    "WebService",
    "check_path",
    "make_web_session",
    "probe_web",
    "schemes_for",
]

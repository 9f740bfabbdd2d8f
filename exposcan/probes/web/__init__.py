"""The web probe: Orthanc REST, DICOMweb (QIDO-RS, WADO-URI) and viewers over HTTP(S).

Modules, in the order a probe uses them:

- :mod:`.observation`: the closed vocabularies and the frozen records a probe returns;
- :mod:`.safety`: :func:`check_path`, the guard every request passes (no retrieval, ever);
- :mod:`.session`: the scan's aiohttp session, the body cap, one endpoint's conversation,
  the failure mapping and the TLS facts;
- :mod:`.scheme`: HTTP or HTTPS, the random-path baseline (SPA screen, auth wall), the
  bare TLS handshake;
- :mod:`.orthanc`, :mod:`.dicomweb`, :mod:`.viewers`: what each product shows a stranger;
- :mod:`.credentials`: documented default credentials (off by default; once per pair and host);
- :mod:`.probe`: :func:`probe_web`, the plan.

Bodies are parsed for counts, product names and versions, then dropped.
"""

from exposcan.probes.web.credentials import DEFAULT_CREDENTIALS, CredentialLedger
from exposcan.probes.web.observation import (
    CredentialOutcome,
    CredentialTry,
    DefaultCredential,
    LoginRedirect,
    Outcome,
    Product,
    RequestRecord,
    Service,
    ServiceCheck,
    Viewer,
    WebObservation,
)
from exposcan.probes.web.probe import probe_web
from exposcan.probes.web.safety import UnsafePathError, check_path
from exposcan.probes.web.scheme import HTTPS_FIRST_PORTS, schemes_for
from exposcan.probes.web.session import (
    MAX_BODY_BYTES,
    MAX_REQUESTS,
    USER_AGENT,
    make_web_session,
)

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
    "Service",
    "ServiceCheck",
    "UnsafePathError",
    "Viewer",
    "WebObservation",
    "check_path",
    "make_web_session",
    "probe_web",
    "schemes_for",
]

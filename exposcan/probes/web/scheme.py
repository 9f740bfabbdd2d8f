"""The first request: the right scheme, and the baseline every later answer is compared to.

A random path is asked first. It settles the scheme (HTTP first, HTTPS first on 443/8443,
the other one when the answer shows the wrong one: a hang-up, a TLS record, "plain HTTP
request sent to HTTPS port"), and its answer is the baseline that screens out single-page
apps answering 200 to every path, and sites behind an authentication wall (401 or a login
redirect there shortens the plan). When both schemes only got a hang-up, one bare TLS
handshake and a short listen tell a server that wants a client certificate.
"""

from __future__ import annotations

import secrets
import time
from typing import Final

from exposcan.net import Connection, NetError, open_connection
from exposcan.net.tls import CLIENT_CERTIFICATE_ALERTS, client_context
from exposcan.probes.web.answer import Answer, EndpointEnded, Failure, is_login_redirect
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.facts import Baseline
from exposcan.probes.web.observation import RequestRecord
from exposcan.vocabulary import Status

__all__ = ["HTTPS_FIRST_PORTS", "TLS_SETTLE_S", "establish", "schemes_for"]

#: Ports where HTTPS is tried first.
HTTPS_FIRST_PORTS: Final = frozenset({443, 8443})
#: How long to listen after a bare TLS handshake for a client-certificate alert.
TLS_SETTLE_S: Final = 0.3
_HTTPS_PORT_MARKERS: Final = (
    b"plain http request was sent to https port",  # nginx
    b"speaking plain http to an ssl-enabled server",  # Apache httpd
    b"http request to an https server",  # Go net/http
)


def schemes_for(port: int) -> tuple[str, str]:
    """The order in which HTTP and HTTPS are tried on ``port``."""
    return ("https", "http") if port in HTTPS_FIRST_PORTS else ("http", "https")


def _plain_to_https(answer: Answer) -> bool:
    """An HTTPS server's answer to plaintext (nginx, Apache, Go): a 400 that says so."""
    if answer.status not in (400, 497):
        return False
    window = answer.body[:4096].lower()
    return answer.status == 497 or any(marker in window for marker in _HTTPS_PORT_MARKERS)


async def establish(probe: Conversation) -> None:
    """The baseline request (a random path), on the right scheme; :class:`EndpointEnded`
    when neither scheme answered."""
    path = f"/exposcan-{secrets.token_hex(8)}"
    origin, log = probe.origin, probe.log
    first, second = schemes_for(origin.port)
    origin.scheme = first
    answer = await probe.get(path, "baseline")
    wrong: Failure | None = None
    if answer is not None and _plain_to_https(answer):
        wrong = Failure(
            Status.PROTOCOL_ERROR, "plain HTTP sent to an HTTPS port", wrong_scheme=True
        )
    elif answer is None:
        wrong = log.failures[-1]
        if not wrong.wrong_scheme:
            if wrong.client_certificate_required:
                await _tls_handshake(probe)  # for the certificate's facts
            raise EndpointEnded
    if wrong is not None:
        origin.scheme = second
        answer = await probe.get(path, "baseline")
        if answer is None:
            again = log.failures[-1]
            tls_server = (
                second == "https" and again.status is Status.TLS_ERROR and not again.not_tls
            )
            if not tls_server:
                # The other scheme did no better: report what the first one saw.
                origin.scheme = first
                log.failures.append(wrong)
            if again.client_certificate_required or (
                Status.CONNECTION_CLOSED is wrong.status is again.status
            ):
                await _tls_handshake(probe)
            raise EndpointEnded
        origin.fallback = True
    assert answer is not None
    login = is_login_redirect(answer)
    # 401 or a login everywhere: an authentication wall, so the data paths are not
    # worth asking. A 403 everywhere may be a filter in front of some open paths.
    probe.baseline = Baseline(
        answer=answer,
        catch_all=answer.status == 200,
        auth_wall=answer.status in (401, 403) or login,
        short_plan=answer.status == 401 or login,
    )
    if login:
        probe.refusal(answer)  # keeps the login target and its product hints


async def _tls_handshake(probe: Conversation) -> None:
    """Both schemes got a hang-up: is it a TLS server that wants a client certificate?

    In TLS 1.3 the server rejects the missing certificate only after the client's side
    of the handshake has finished, and an HTTP client that sends its request at once
    sees a bare disconnect. One handshake, then a short listen, catches the alert
    (as :func:`exposcan.probes.dimse._settle` does for DICOM over TLS).
    """
    if not await probe.admit(after_failures=True):
        return
    origin, log = probe.origin, probe.log
    started = time.monotonic()
    error: Status | None = None
    connection: Connection | None = None
    try:
        connection = await open_connection(
            origin.host, origin.port, timeout=probe.options.timeouts.connect, tls=client_context()
        )
        origin.tls = connection.tls
        origin.scheme = "https"  # a TLS server, whatever comes next
        if await connection.receive(timeout=TLS_SETTLE_S) == b"":
            log.failures.append(
                Failure(Status.CONNECTION_CLOSED, "closed right after the TLS handshake")
            )
    except NetError as exc:
        error = exc.status
        if exc.status is Status.TLS_ERROR and exc.detail in CLIENT_CERTIFICATE_ALERTS:
            origin.scheme = "https"
            log.failures.append(
                Failure(Status.TLS_ERROR, exc.detail, client_certificate_required=True)
            )
    finally:
        if connection is not None:
            await connection.close(timeout=probe.options.timeouts.release)
        log.records.append(
            RequestRecord(
                method="TLS",
                path="/",
                purpose="tls-handshake",
                error=error,
                duration_s=time.monotonic() - started,
            )
        )

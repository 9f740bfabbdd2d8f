"""Documented default credentials, tried only with ``ScanOptions.try_default_credentials``.

One try per credential pair and host for the whole scan: the engine owns one
:class:`CredentialLedger` per scan and hands it to every web probe, and a pair is written
into it before the request is sent, whatever happens next.

What is tried, and what is not:

- **Orthanc**: ``orthanc``/``orthanc``, with HTTP Basic on ``GET /system`` (one request;
  then one count with the same pair). Only when Orthanc's own realm refused ``/system``.
- **Dicoogle**: its documented default account is ``dicoogle``/``dicoogle`` (Dicoogle
  learning pack, "Using Dicoogle"), but the only way to try it is ``POST /login`` with a
  form (LoginServlet.java), which opens a session on the server: a state change, and not
  the one GET the probe allows itself. Not tried; the UI is reported as a viewer.
- **dcm4chee-arc** (secured build) and **Kheops** log users in through Keycloak (OpenID
  Connect): trying a password means fetching the login form, keeping its cookies and
  posting it, several requests that change server state. Not tried.
"""

from __future__ import annotations

from typing import Final

from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.observation import (
    CredentialOutcome,
    CredentialTry,
    DefaultCredential,
    Outcome,
    Product,
    WebService,
)
from exposcan.probes.web.orthanc import orthanc

__all__ = ["DEFAULT_CREDENTIALS", "CredentialLedger", "try_default_credentials"]

DEFAULT_CREDENTIALS: Final = (
    DefaultCredential(
        product=Product.ORTHANC,
        user="orthanc",
        password="orthanc",  # noqa: S106 - the documented default is the point
        source=(
            "Orthanc >= 1.5.8, OrthancServer/Sources/main.cpp: with HTTP authentication on, "
            'remote access allowed and no RegisteredUsers, Orthanc registers "orthanc"/'
            '"orthanc" and logs that the setup is insecure; the official Docker images '
            "document the same pair"
        ),
    ),
)


class CredentialLedger:
    """The credential pairs one scan has tried, per host: never a second try."""

    def __init__(self) -> None:
        self._tried: set[tuple[str, str, str]] = set()

    def tried(self, host: str, credential: DefaultCredential) -> bool:
        return (host, credential.user, credential.password) in self._tried

    def claim(self, host: str, credential: DefaultCredential) -> bool:
        """Record the try before it is sent; False if this pair was tried on ``host``."""
        key = (host, credential.user, credential.password)
        if key in self._tried:
            return False
        self._tried.add(key)
        return True

    def __len__(self) -> int:
        return len(self._tried)


def _orthanc_refused(probe: Conversation) -> bool:
    return (
        Product.ORTHANC in probe.identity.products
        and probe.checks.has(WebService.ORTHANC_REST, Outcome.REFUSED)
        and "Basic" in probe.log.challenges
    )


async def try_default_credentials(probe: Conversation, ledger: CredentialLedger) -> None:
    """The identified product's documented default credentials, once per pair and host.

    This step can end with a fact and no request (a pair already tried on another port),
    so it first asks whether the endpoint has ended, as every request does."""
    probe.stop_if_ended()
    if not probe.options.try_default_credentials:
        return
    for credential in DEFAULT_CREDENTIALS:
        if credential.product is not Product.ORTHANC or not _orthanc_refused(probe):
            continue
        if ledger.tried(probe.host, credential):
            probe.credential_try = CredentialTry(
                product=credential.product,
                user=credential.user,
                outcome=CredentialOutcome.ALREADY_TRIED,
            )
            return
        if not probe.log.budget_left():
            return
        ledger.claim(probe.host, credential)  # before sending: one try, whatever happens
        records = probe.log.records
        before = len(records)
        accepted = await orthanc(probe, credential, prefix=probe.identity.orthanc_prefix or "")
        answered = any(r.status is not None for r in records[before : before + 1])
        if accepted:
            outcome = CredentialOutcome.ACCEPTED
        else:
            outcome = CredentialOutcome.REFUSED if answered else CredentialOutcome.ERROR
        probe.credential_try = CredentialTry(
            product=credential.product, user=credential.user, outcome=outcome
        )
        return

"""What one web endpoint has shown so far, as typed facts, each with one owner.

A :class:`~exposcan.probes.web.conversation.Conversation` holds one of each:

- :class:`Origin`: where the requests go (RFC 6454: scheme, host, port) and the TLS facts
  of the connection; the scheme is settled by :mod:`~.scheme`;
- :class:`RequestLog`: every request as recorded, the failures, and what the answers'
  headers said; written by the request helper only (and the bare TLS handshake), and the
  one place that decides whether the endpoint has ended or the budget is spent;
- :class:`Baseline`: the random path's answer and what it says about every other path;
- :class:`ProductFacts`: the product, its version, viewers, login and port hints;
- :class:`ServiceChecks`: what each data or identity path showed.

The plan reads them into a :class:`~exposcan.probes.web.observation.WebObservation`.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from yarl import URL

from exposcan.probes.web.answer import Answer, Failure
from exposcan.probes.web.observation import (
    VIEWER_PRODUCT,
    LoginRedirect,
    Outcome,
    Product,
    RequestRecord,
    ServiceCheck,
    Viewer,
    WebService,
)
from exposcan.results import TlsFacts
from exposcan.vocabulary import Status

__all__ = [
    "MAX_REQUESTS",
    "Baseline",
    "Origin",
    "ProductFacts",
    "RequestLog",
    "ServiceChecks",
]

#: At most this many requests per endpoint (a typical one costs 6 to 13).
MAX_REQUESTS: Final = 16
#: DICOM ports one web endpoint may name (Dicoogle names two: storage and query).
_MAX_DICOM_PORTS: Final = 4
#: A failure with one of these statuses ends the endpoint at once (nothing answers there).
_ENDING: Final = frozenset(
    {Status.CONNECTION_REFUSED, Status.CONNECTION_TIMEOUT, Status.IO_TIMEOUT}
)


@dataclass(slots=True)
class Origin:
    """Where the requests go, and the TLS facts of the connection that carried them."""

    host: str
    port: int
    scheme: str
    #: the first scheme tried looked wrong and the other one answered
    fallback: bool = False
    tls: TlsFacts | None = None

    def url(self, path: str) -> URL:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return URL(f"{self.scheme}://{host}:{self.port}{path}", encoded=True)


@dataclass(slots=True)
class RequestLog:
    """The requests to one endpoint as recorded, and what the answers' headers said."""

    records: list[RequestRecord] = field(default_factory=list)
    #: requests that got no answer, in order (the last one explains a silent endpoint)
    failures: list[Failure] = field(default_factory=list)
    answered: int = 0
    consecutive_failures: int = 0
    #: the first ``Server`` header seen
    server: str | None = None
    #: ``WWW-Authenticate`` scheme tokens, in the order first seen
    challenges: list[str] = field(default_factory=list)

    def budget_left(self) -> bool:
        return len(self.records) < MAX_REQUESTS

    def ended(self) -> bool:
        """The endpoint has stopped answering: two failures in a row, or one that says so."""
        if not (self.failures and self.consecutive_failures):
            return False
        return self.consecutive_failures >= 2 or self.failures[-1].status in _ENDING

    def answer(self, answer: Answer) -> None:
        self.answered += 1
        self.consecutive_failures = 0
        if answer.server and self.server is None:
            self.server = answer.server
        for challenge in answer.challenges:
            if challenge not in self.challenges:
                self.challenges.append(challenge)

    def no_answer(self) -> None:
        self.consecutive_failures += 1


@dataclass(frozen=True, slots=True)
class Baseline:
    """The random path's answer (set once the scheme is settled) and what it implies."""

    answer: Answer | None = None
    #: a random path answered 200: a 200 alone proves nothing on this origin
    catch_all: bool = False
    #: 401, 403 or a login redirect at a random path
    auth_wall: bool = False
    #: 401 or a login redirect at a random path: the data paths are not worth asking
    short_plan: bool = False

    def same_as(self, answer: Answer) -> bool:
        """The SPA screen: a 200 with the random path's very body proves nothing."""
        base = self.answer
        return (
            base is not None
            and base.status == answer.status == 200
            and base.digest == answer.digest
        )


@dataclass(slots=True)
class ProductFacts:
    """What the endpoint is: products named (the lead first), version, viewers, hints."""

    products: list[Product] = field(default_factory=list)
    #: the lead product's version, the first one seen
    version: str | None = None
    viewers: list[Viewer] = field(default_factory=list)
    #: the viewer has a login of its own (OHIF with OpenID Connect configured)
    viewer_login: bool = False
    #: the viewer's configured QIDO root is on another origin (not probed: out of scope)
    viewer_api_elsewhere: bool = False
    login_redirect: LoginRedirect | None = None
    #: the DICOM ports the product says it listens on (Orthanc's ``/system`` DicomPort,
    #: Dicoogle's running storage and query services), the first named first
    dicom_ports: list[int] = field(default_factory=list)
    #: where Orthanc's REST API answered or refused ("" or a reverse-proxy prefix)
    orthanc_prefix: str | None = None
    #: Conquest's CGI as the pages link it: ``/cgi-bin/dgate`` or, on Windows, ``.exe``
    conquest_cgi: str = "/cgi-bin/dgate"

    def add(self, product: Product, version: str | None = None) -> None:
        if product not in self.products:
            self.products.append(product)
        if version and self.version is None and self.products[0] == product:
            self.version = version

    def dicom_port(self, port: object) -> None:
        """A DICOM port the product named (a JSON number from 1 to 65535, kept once)."""
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            return
        if port not in self.dicom_ports and len(self.dicom_ports) < _MAX_DICOM_PORTS:
            self.dicom_ports.append(port)

    def lead(self, product: Product) -> None:
        """``product`` answered as itself: it is the endpoint's product, before any other."""
        if product in self.products:
            self.products.remove(product)
        self.products.insert(0, product)

    def viewer(self, viewer: Viewer) -> None:
        if viewer not in self.viewers:
            self.viewers.append(viewer)
            self.add(VIEWER_PRODUCT[viewer])


class ServiceChecks:
    """What each data or identity path showed, in the order asked."""

    __slots__ = ("_checks", "qido_paths")

    def __init__(self) -> None:
        self._checks: list[ServiceCheck] = []
        #: QIDO-RS paths already asked (each is asked once)
        self.qido_paths: set[str] = set()

    def __iter__(self) -> Iterator[ServiceCheck]:
        return iter(self._checks)

    def add(self, service: WebService, path: str, outcome: Outcome, **counts: Any) -> ServiceCheck:
        result = ServiceCheck(service=service, path=path, outcome=outcome, **counts)
        self._checks.append(result)
        return result

    def has(self, service: WebService, *outcomes: Outcome) -> bool:
        """A check of ``service`` with one of ``outcomes`` (any outcome when none is given)."""
        return any(
            c.service == service and (not outcomes or c.outcome in outcomes) for c in self._checks
        )

    def listed_anywhere(self) -> bool:
        return any(c.outcome == Outcome.LISTED for c in self._checks)

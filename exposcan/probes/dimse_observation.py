"""What the DICOM probe saw at one endpoint, as plain records: no I/O.

:mod:`exposcan.probes.dimse` builds them; :mod:`exposcan.classify` and the AE-title
strategy (:mod:`exposcan.probes.aetitle_strategy`) read them.
"""

from __future__ import annotations

from dataclasses import dataclass

from exposcan.dicom import services, uids
from exposcan.dicom.events import Aborted, AssociationAccepted, AssociationRejected
from exposcan.results import TlsFacts
from exposcan.vocabulary import AttemptPurpose, FindEnd, Protocol, Status

#: The opening association's purposes: a random called title unless the user named one.
_OPENING = (AttemptPurpose.FIRST, AttemptPurpose.RANDOM)
#: The Q/R FIND models the exchange asks (the first of them accepted).
_QR_FIND = (services.STUDY_ROOT_FIND, services.PATIENT_ROOT_FIND)


@dataclass(frozen=True, kw_only=True, slots=True)
class FindOutcome:
    """A metadata-only C-FIND, as counts. Responses' identifiers were never decoded."""

    service: str
    level: str
    count: int
    cap: int
    cancelled: bool
    final_status: int | None
    #: matches | empty | refused | aborted | closed | timeout | ignored-cancel
    outcome: str
    #: Top-level elements of the identifier sent (the keys asked).
    asked_elements: int = 0
    #: The most top-level elements one pending response's identifier held, counted
    #: from element headers (no value read); ``None`` with no countable response.
    most_elements: int | None = None
    #: Asked on a fresh association, after an earlier step of the exchange (the C-ECHO,
    #: or the Q/R C-FIND before the worklist's) ended the one that accepted it.
    fresh: bool = False

    @property
    def cap_hit(self) -> bool:
        return self.count >= self.cap


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    """One association attempt: what was asked and how the peer answered."""

    purpose: AttemptPurpose
    called_ae_title: str
    calling_ae_title: str
    status: Status
    detail: str | None = None
    accepted: AssociationAccepted | None = None
    rejected: AssociationRejected | None = None
    aborted: Aborted | None = None
    echo_status: int | None = None
    find: FindOutcome | None = None
    #: The Modality Worklist C-FIND, where the worklist model was accepted.
    worklist: FindOutcome | None = None
    released: bool = False
    duration_s: float = 0.0
    tls: TlsFacts | None = None
    #: The peer answered like a TLS server (an alert record, or a silent close).
    tls_suspected: bool = False

    @property
    def spoke_dicom(self) -> bool:
        return bool(self.accepted or self.rejected or self.aborted)

    @property
    def ended_at_echo(self) -> bool:
        """The C-ECHO ended the association (A-ABORT, or the peer closing): Verification
        was accepted, no C-ECHO-RSP came, and nothing after it was asked."""
        return (
            self.accepted is not None
            and self.echo_status is None
            and self.find is None
            and self.worklist is None
            and (self.aborted is not None or self.status is Status.CONNECTION_CLOSED)
            and self._accepts(uids.VERIFICATION)
        )

    @property
    def query_unasked(self) -> bool:
        """A Q/R FIND model was accepted but never asked: the C-ECHO before it ended the
        association, so a fresh one may still ask it (Orthanc with DicomAlwaysAllowEcho
        false aborts a stranger's C-ECHO and answers its C-FIND: issue 14)."""
        return self.ended_at_echo and any(self._accepts(uid) for uid in _QR_FIND)

    @property
    def worklist_unasked(self) -> bool:
        """Modality Worklist was accepted but never asked: the C-ECHO or the Q/R C-FIND
        before it ended the association (A-ABORT, or the peer closing), so a fresh one
        may still ask it."""
        query_ended = self.find is not None and self.find.outcome in (
            FindEnd.ABORTED,
            FindEnd.CLOSED,
        )
        return (
            self.worklist is None
            and (query_ended or self.ended_at_echo)
            and self._accepts(services.WORKLIST_FIND)
        )

    def _accepts(self, uid: str) -> bool:
        return self.accepted is not None and any(
            c.abstract_syntax == uid for c in self.accepted.accepted
        )

    def accepted_kinds(self) -> set[services.ServiceKind]:
        if self.accepted is None:
            return set()
        return {
            kind
            for c in self.accepted.accepted
            if (kind := services.kind_of(c.abstract_syntax)) is not None
        }


#: :attr:`DimseObservation.search_end` when the deadline, not the strategy, ended it.
DEADLINE_ENDED = "endpoint-deadline"


@dataclass(frozen=True, kw_only=True, slots=True)
class DimseObservation:
    host: str
    port: int
    attempts: tuple[Attempt, ...]
    duration_s: float
    protocol: Protocol = Protocol.DIMSE
    #: Why no further association was opened: a strategy stop reason
    #: (:class:`~exposcan.probes.aetitle_strategy.StopReason`), or ``endpoint-deadline``
    #: when the deadline left no time for the next one; ``None`` if not recorded.
    search_end: str | None = None
    #: Stock or user titles the search had not tried when it ended.
    titles_untried: int = 0
    #: Other hosts of this scan that had answered with the same A-ASSOCIATE-AC, titles
    #: aside, before this one (:mod:`exposcan.probes.dimse_alike`); 0 outside a scan.
    alike_hosts: int = 0

    @property
    def first(self) -> Attempt:
        """The first attempt in the protocol finally used (a plaintext try may precede it)."""
        return next(a for a in self.attempts if a.purpose in _OPENING)

    @property
    def tls(self) -> TlsFacts | None:
        return next((a.tls for a in self.attempts if a.tls is not None), None)

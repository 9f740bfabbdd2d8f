"""What the AE-title strategy (:mod:`exposcan.probes.aetitle_strategy`) reads and names:
the service maps an association may propose, why a search stops, and the parts of an
attempt record it decides from. Plain types, no I/O."""

from __future__ import annotations

from dataclasses import Field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from exposcan.vocabulary import Status


class ServiceMap(StrEnum):
    """Which presentation contexts one A-ASSOCIATE-RQ proposes."""

    #: Every service of :mod:`exposcan.dicom.services`.
    WHOLE = "whole"
    #: The first half: everything but storage.
    CORE = "core"
    #: The second half: storage.
    STORAGE = "storage"
    #: Verification alone (a random title needs nothing else).
    VERIFICATION = "verification"
    #: Modality Worklist FIND alone (the worklist behind an ended C-ECHO or query).
    WORKLIST = "worklist"
    #: The Q/R and worklist FIND models, no Verification (the query behind an ended C-ECHO).
    QUERY = "query"

    @property
    def exchange(self) -> bool:
        """Whether an accepted association runs the C-ECHO and C-FINDs its accepted
        contexts allow before release."""
        return self not in (ServiceMap.STORAGE, ServiceMap.VERIFICATION)


class StopReason(StrEnum):
    """Why no further association is opened."""

    #: Accepted, and a random title has told whether called titles are checked
    #: (accepted itself, or refused while the configured title got in).
    AE_CHECK_TESTED = "ae-check-tested"
    #: A user's or stock title was accepted.
    TITLE_FOUND = "title-found"
    #: Every user's and stock title was refused as unknown.
    TITLES_EXHAUSTED = "titles-exhausted"
    #: ``ae_attempts`` associations were opened.
    BUDGET_SPENT = "budget-spent"
    #: Refused for the calling title (reason 3).
    CALLING_TITLE_CHECKED = "calling-title-checked"
    #: The peer sent A-ABORT.
    ABORTED = "aborted"
    #: Rejected for another reason than an AE title.
    REFUSED = "refused"
    #: No DICOM answer at all (closed, timed out, not DICOM, TLS failed).
    NO_ASSOCIATION = "no-association"


class Rejection(Protocol):
    """What the strategy reads of an A-ASSOCIATE-RJ (PS3.8 §9.3.4)."""

    @property
    def source(self) -> int: ...
    @property
    def reason(self) -> int: ...


class AttemptRecord(Protocol):
    """What the strategy reads of one attempt (``exposcan.probes.dimse.Attempt``)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def purpose(self) -> str: ...
    @property
    def status(self) -> Status: ...
    @property
    def accepted(self) -> object | None: ...
    @property
    def rejected(self) -> Rejection | None: ...
    @property
    def aborted(self) -> object | None: ...
    @property
    def tls(self) -> object | None: ...
    @property
    def tls_suspected(self) -> bool: ...
    @property
    def query_unasked(self) -> bool: ...
    @property
    def worklist_unasked(self) -> bool: ...

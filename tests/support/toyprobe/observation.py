"""What one echo-line conversation showed, and its pure verdict (no I/O imported)."""

from __future__ import annotations

from dataclasses import dataclass

from exposcan.results import TlsFacts, Verdict
from exposcan.rules import Rule
from exposcan.vocabulary import Exposure, Protocol, Status
from tests.support.toyprobe import findings


@dataclass(frozen=True, slots=True)
class EchoObservation:
    protocol: Protocol
    status: Status
    #: the line came back as sent (the peer's bytes are compared, never kept)
    repeated: bool = False
    #: how many bytes the peer sent back (a count, not the bytes)
    answered_bytes: int = 0
    tls: TlsFacts | None = None
    duration_s: float = 0.0


def verdict(observation: EchoObservation) -> Verdict:
    if observation.status is not Status.SUCCESS:
        found: tuple[Rule, ...] = ()
        exposure = Exposure.NONE
    elif observation.repeated:
        found, exposure = (findings.ECHO_LINE_REPEATS,), Exposure.ECHO
    else:
        found, exposure = (findings.ECHO_LINE_SILENT,), Exposure.NONE
    return Verdict(
        exposure=exposure,
        status=observation.status,
        detail=None,
        findings=tuple(
            rule.found(f"{observation.answered_bytes} bytes back for a 13-byte line")
            for rule in found
        ),
        fingerprint=None,
        services=(),
        ae_title=None,
        matches=None,
    )

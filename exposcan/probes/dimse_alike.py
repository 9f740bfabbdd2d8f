"""Which hosts of one scan answered with the same A-ASSOCIATE-AC: the record behind the
cross-endpoint decoy sign (:data:`exposcan.decoys.SIGN_SAME_ACCEPT`). No I/O.

A honeypot deployed on many addresses answers exposcan's one request with one answer
everywhere. So do identical installations of a real product (same version, same
configuration), which is why the sign is weak and counts only beside another one
(:func:`exposcan.decoys.honeypot_signs`). The answers are compared as decoded
(:class:`~exposcan.dicom.events.AssociationAccepted`: every presentation context's
result and transfer syntax, the maximum PDU length, the implementation class UID and
version name, the protocol version), which leaves out the called and calling AE title
fields the AC echoes from the request (PS3.8 Table 9-17: "shall be sent with the value
identical to the one received"), so a stock title that got in on one host and the
scan's random title on another do not make two answers of one.

A verdict is made when its endpoint is done, before later hosts are seen: the count is
of the hosts that answered alike *before* this one, so the first hosts of a fleet never
show the sign and the later ones do. The record is one scan's (one probe run's, one
shard's in a distributed scan) and a resumed scan starts it afresh. Bounded: at most
:data:`KEPT_ANSWERS` distinct answers are recorded, each with a few hosts.
"""

from __future__ import annotations

from collections.abc import Sequence

from exposcan.dicom.events import AssociationAccepted
from exposcan.probes.dimse_observation import Attempt
from exposcan.vocabulary import AttemptPurpose

__all__ = ["ALIKE_OTHERS", "KEPT_ANSWERS", "AlikeAccepts", "answer_of"]

#: Other hosts that must have answered alike before this one: "many" is three hosts.
ALIKE_OTHERS = 2
#: Distinct answers recorded; once full, an answer not yet seen is not recorded (real
#: servers of one product share one answer, so a scan holds far fewer than its hosts).
KEPT_ANSWERS = 16384
#: The associations that carry the probe: the whole map (or its first half) under the
#: configured, the random or a stock or user title.
_CARRYING = frozenset(
    {AttemptPurpose.FIRST, AttemptPurpose.RANDOM, AttemptPurpose.STOCK, AttemptPurpose.USER}
)


def answer_of(attempts: Sequence[Attempt]) -> AssociationAccepted | None:
    """The A-ASSOCIATE-AC of the first association that carried the probe, if any."""
    return next(
        (a.accepted for a in attempts if a.purpose in _CARRYING and a.accepted is not None),
        None,
    )


class AlikeAccepts:
    """The scan's answers, with the first hosts that gave each. The decoded AC is the
    key itself: a frozen record of exactly the compared fields (it keeps no title)."""

    def __init__(self, kept: int = KEPT_ANSWERS) -> None:
        self._kept = kept
        self._hosts: dict[AssociationAccepted, list[str]] = {}

    def note(self, host: str, attempts: Sequence[Attempt]) -> int:
        """Record the host's answer; how many other hosts gave the same one before it
        (at most :data:`ALIKE_OTHERS` + 1; 0 without an accepted association)."""
        accepted = answer_of(attempts)
        if accepted is None:
            return 0
        hosts = self._hosts.get(accepted)
        if hosts is None:
            if len(self._hosts) >= self._kept:
                return 0
            hosts = self._hosts[accepted] = []
        others = sum(1 for seen in hosts if seen != host)
        # A few hosts suffice to say "this one and at least ALIKE_OTHERS others" of any
        # host, whether it is one of them (another port of it) or not.
        if host not in hosts and len(hosts) <= ALIKE_OTHERS:
            hosts.append(host)
        return others

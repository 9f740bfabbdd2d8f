"""Who got in under which called AE title: the AE-title findings of a DICOM verdict. Pure.

:func:`exposcan.classify.classify_dimse` asks this module what the called-title search
showed (PS3.8 §9.3.4: an A-ASSOCIATE-RJ's source 1, reason 7 "called AE title not
recognised", reason 3 "calling AE title not recognised"): any title gets in, a configured
title is guessable, a stock title got in, the check held, and whether the budget rather
than the peer ended the search.
"""

from __future__ import annotations

from exposcan import findings as catalogue
from exposcan.probes.aetitle_strategy import REASON_CALLED_AE, REASON_CALLING_AE, StopReason
from exposcan.probes.dimse_observation import DEADLINE_ENDED, Attempt, DimseObservation
from exposcan.results import Finding
from exposcan.vocabulary import Exposure

__all__ = ["ANY_TITLE", "ae_findings", "ae_title", "called", "opening_attempt", "search_cut"]

#: ``ae_title`` of a peer that let a random called title in: any title works, and
#: the random one drawn for this scan means nothing to a reader (nor to a diff).
#: Itself a valid AE title (PS3.5 §6.2), which such a peer accepts too.
ANY_TITLE = "(any)"
#: The opening association's purposes: a random called title unless the user named one.
_OPENING = ("first", "random")


def search_cut(observation: DimseObservation) -> str:
    """Where the budget, not the peer, ended the AE-title search: say so, with what was
    left untried (issue 14: a title far down the list was never reached)."""
    if not observation.titles_untried:
        return ""
    if observation.search_end == StopReason.BUDGET_SPENT:
        why = "the attempt budget (ae_attempts)"
        further = "a larger --ae-attempts (at most 32)"
    elif observation.search_end == DEADLINE_ENDED:
        why = "the endpoint deadline (under the per-host rate)"
        further = "a longer --timeout or a higher --per-host-rate"
    else:
        return ""
    return (
        f"; {why}, not the peer, ended the search with "
        f"{observation.titles_untried} title(s) untried (the site's own titles in "
        f"--ae-titles, or {further}, reach further)"
    )


def opening_attempt(attempts: tuple[Attempt, ...]) -> Attempt | None:
    """The association that carried the probe: after a plaintext try or a refused whole
    map it is not ``attempts[0]``; ``random`` unless the user named a called title."""
    return next((a for a in attempts if a.purpose in _OPENING), None)


def called(attempt: Attempt) -> str:
    if attempt.purpose == "random":
        return f"a random called AE title ({attempt.called_ae_title!r})"
    return f"called AE {attempt.called_ae_title!r}"


def ae_title(key: Attempt) -> str:
    return ANY_TITLE if key.purpose == "random" else key.called_ae_title


def ae_findings(
    attempts: tuple[Attempt, ...], key: Attempt, exposure: Exposure, cut: str = ""
) -> list[Finding]:
    opening = opening_attempt(attempts) or attempts[0]
    random = next((a for a in attempts if a.purpose == "random"), None)
    # The configured called title: the user's (the opening), or ANY-SCP after a random one.
    configured = next((a for a in attempts if a.purpose == "first"), None)
    findings: list[Finding] = []
    if random is not None and random.accepted is not None:
        how = (
            "in the association that carried the probe"
            if random is opening
            else f"after {opening.called_ae_title!r}"
        )
        findings.append(
            catalogue.DICOM_AE_TITLE_NOT_CHECKED.found(
                f"a random 16-character called AE title ({random.called_ae_title!r}) "
                f"was accepted {how}: any title gets in"
            )
        )
        return findings
    if configured is not None and configured.accepted is not None:
        if random is not None and random.rejected is not None:
            findings.append(
                catalogue.DICOM_CALLED_AE_GUESSABLE.found(
                    f"{configured.called_ae_title!r} was accepted, a random called title was "
                    f"rejected ({random.rejected.reason_text})"
                )
            )
        return findings
    rejected = opening.rejected
    if rejected is None or rejected.source != 1:
        return findings
    if rejected.reason == REASON_CALLING_AE:
        findings.append(
            catalogue.DICOM_CALLING_AE_CHECKED.found(
                f"calling AE {opening.calling_ae_title!r} rejected (reason 3); "
                "exposcan does not impersonate other callers"
            )
        )
        return findings
    if rejected.reason != REASON_CALLED_AE:
        return findings
    # Refused as unknown: the opening title, and ANY-SCP after a random opening.
    refused = [
        a
        for a in attempts
        if a.purpose in _OPENING
        and a.rejected is not None
        and (a.rejected.source, a.rejected.reason) == (1, REASON_CALLED_AE)
    ]
    unknown = " and ".join(
        "a random called title" if a.purpose == "random" else repr(a.called_ae_title)
        for a in refused
    )
    were = "were" if len(refused) > 1 else "was"
    tried = sum(1 for a in attempts if a.purpose == "stock")
    if key.purpose == "stock" and key.accepted is not None:
        # Always high: the stock attempt decides (is ``key``) only when it got
        # further than the first one's refusal, to echo or beyond.
        findings.append(
            catalogue.DICOM_STOCK_AE_TITLE.found(
                f"{unknown} {were} rejected as unknown; stock title "
                f"{key.called_ae_title!r} was accepted (attempt {tried} of the stock list)"
            )
        )
        return findings
    if key.purpose == "user" and key.accepted is not None:
        # The site's own title, given to the scan: the check works; what follows is what
        # a caller who knows that title gets, never "a shipped default".
        findings.append(
            catalogue.DICOM_CALLED_AE_CHECKED.found(
                f"{unknown} {were} rejected (reason 7); {key.called_ae_title!r}, a title "
                "given with --ae-titles, was accepted"
            )
        )
        return findings
    known = next(
        (
            a
            for a in attempts
            if a.purpose in ("first", "stock", "user")
            and a is not opening
            and a.rejected is not None
            and a.rejected.source == 1
            and a.rejected.reason == REASON_CALLING_AE
        ),
        None,
    )
    if known is not None:
        # Reason 3 after reason 7: the title passed the called-AE check.
        findings.append(
            catalogue.DICOM_CALLED_AE_DISCLOSED.found(
                f"{unknown} {were} rejected as an unknown called title (reason 7), "
                f"{known.called_ae_title!r} as an unknown calling title (reason 3): "
                "the called title is right"
            )
        )
    # The site's own titles count apart: "none accepted" must not hide that the titles
    # the caller named were refused too (the titles themselves are the caller's own).
    users = [a.called_ae_title for a in attempts if a.purpose == "user"]
    given = (
        f" and {len(users)} given with --ae-titles ({', '.join(map(repr, users))})" if users else ""
    )
    findings.append(
        catalogue.DICOM_CALLED_AE_CHECKED.found(
            f"{unknown} {were} rejected (reason 7); {tried} stock title(s){given} tried, "
            f"none accepted{cut}"
        )
    )
    return findings

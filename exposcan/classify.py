"""Observations in, exposure and findings out. Pure: no I/O, no clock.

One classifier for every probe (DESIGN.md, principle 6): this module folds a DICOM
endpoint's associations into one verdict and says what its services showed; who got
in under which called title is :mod:`exposcan.classify_titles`, the decoy signs
:mod:`exposcan.decoys`, the web verdict :mod:`exposcan.classify_web`. Finding ids are
stable: reports, SARIF rules and users' filters key on them. Evidence holds
protocol facts and counts only, never a value a peer returned in a match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from exposcan import findings as catalogue
from exposcan.classify_titles import (
    ANY_TITLE,
    ae_findings,
    ae_title,
    called,
    opening_attempt,
    search_cut,
)
from exposcan.decoys import claimed_products, honeypot_detail, honeypot_finding, honeypot_signs
from exposcan.dicom import services, uids
from exposcan.dicom.services import ServiceKind
from exposcan.probes.dimse_observation import Attempt, DimseObservation, FindOutcome
from exposcan.product_notes import storage_note
from exposcan.results import Finding, Fingerprint, Matches, Verdict
from exposcan.tls_findings import tls_findings
from exposcan.vocabulary import Exposure, FindEnd

__all__ = ["ANY_TITLE", "Verdict", "classify_dimse", "reached"]


def reached(attempt: Attempt) -> Exposure:
    """How far one association attempt got."""
    if attempt.accepted is not None:
        if any(f is not None and f.count > 0 for f in (attempt.find, attempt.worklist)):
            return Exposure.QUERY
        if ServiceKind.STORAGE in attempt.accepted_kinds():
            return Exposure.STORE
        if attempt.echo_status == 0x0000:
            return Exposure.ECHO
        return Exposure.PROTECTED
    if attempt.spoke_dicom:
        return Exposure.PROTECTED
    if attempt.tls is not None and attempt.tls.client_certificate_required:
        return Exposure.PROTECTED
    return Exposure.NONE


def classify_dimse(
    observation: DimseObservation, *, hints: Mapping[str, str] | None = None
) -> Verdict:
    """``hints``: what another probe of the same host said about this port's product
    (the web probe's ``web_product`` and ``web_version``); only the fingerprint uses them."""
    attempts = _fold_halves(_fold_fresh(observation.attempts))
    # The attempt that got furthest decides; the earliest wins a tie.
    key = max(attempts, key=lambda a: (reached(a).rank, -attempts.index(a)))
    exposure = reached(key)
    findings: list[Finding] = []
    findings.extend(ae_findings(attempts, key, exposure, search_cut(observation)))
    findings.extend(_context_limit_findings(attempts))
    fingerprint = _fingerprint(attempts, hints)
    store_note = storage_note(fingerprint, claimed_products(attempts, hints))
    if key.accepted is not None:
        findings.extend(_service_findings(key, store_note))
    elif key.rejected is not None:
        rj = key.rejected
        findings.append(
            catalogue.DICOM_ASSOCIATION_REJECTED.found(
                f"A-ASSOCIATE-RJ for {called(key)}: {rj.words} "
                f"(result {rj.result}, source {rj.source}, reason {rj.reason})"
            )
        )
    elif key.aborted is not None:
        ab = key.aborted
        findings.append(
            catalogue.DICOM_ASSOCIATION_ABORTED.found(
                f"A-ABORT from {ab.source_text}"
                + (f": {ab.reason_text}" if ab.reason_text else "")
                + f" (source {ab.source}, reason {ab.reason})"
            )
        )
    findings.extend(tls_findings(observation.tls, kind="dicom", detail=key.detail))
    detail = key.detail
    signs = honeypot_signs(attempts, hints, alike_hosts=observation.alike_hosts)
    if signs:
        # Said, never acted on: the host stays, and what it showed stands.
        findings.append(honeypot_finding(signs))
        detail = "; ".join(filter(None, (detail, honeypot_detail(signs))))
    if store_note is not None and exposure is Exposure.STORE:
        detail = "; ".join(filter(None, (detail, "store unconfirmed: " + store_note)))
    accepted_names = (
        tuple(
            services.name_of(c.abstract_syntax)
            for c in key.accepted.accepted
            if c.abstract_syntax != uids.NONEXISTENT_ABSTRACT_SYNTAX
        )
        if key.accepted
        else ()
    )
    find = key.find
    if find is None or not (find.count or find.outcome == FindEnd.EMPTY):
        find = key.worklist or find  # the worklist's count where Q/R showed none
    findings.sort(key=lambda f: -f.severity.rank)  # the worst first, for readers
    return Verdict(
        exposure=exposure,
        status=key.status,
        detail=detail,
        findings=tuple(findings),
        fingerprint=fingerprint,
        services=accepted_names,
        ae_title=ae_title(key) if exposure >= Exposure.ECHO else None,
        matches=(
            Matches(count=find.count, cap=find.cap, cap_hit=find.cap_hit, level=find.level)
            if find is not None and (find.count or find.outcome == FindEnd.EMPTY)
            else None
        ),
    )


def _fold_fresh(attempts: tuple[Attempt, ...]) -> tuple[Attempt, ...]:
    """The C-FINDs asked on fresh associations (the C-ECHO or the Q/R query had ended the
    one that accepted them) are read as that association's: their outcomes join it,
    marked ``fresh``, and the step that ended it stays as it was (an aborted C-ECHO is
    no echo, an aborted query stays refused)."""
    folded = list(attempts)
    origin: int | None = None  # the latest association that left a C-FIND unasked
    for i, attempt in enumerate(attempts):
        if attempt.purpose not in _FRESH:
            if attempt.query_unasked or attempt.worklist_unasked:
                origin = i
        elif origin is not None:
            first = folded[origin]
            folded[origin] = replace(
                first,
                find=first.find or _marked(attempt.find),
                worklist=first.worklist or _marked(attempt.worklist),
            )
    return tuple(a for a in folded if a.purpose not in _FRESH)


_FRESH = ("query", "worklist")


def _marked(outcome: FindOutcome | None) -> FindOutcome | None:
    return None if outcome is None else replace(outcome, fresh=True)


def _fold_halves(attempts: tuple[Attempt, ...]) -> tuple[Attempt, ...]:
    """A map proposed in two halves (the peer refused it whole) is read as one:
    the storage half's accepted contexts join the first association's."""
    first = opening_attempt(attempts)
    storage = next((a for a in attempts if a.purpose == "storage"), None)
    if first is None or storage is None:
        return attempts
    if first.accepted is None or storage.accepted is None:
        return tuple(a for a in attempts if a is not storage)
    accepted = replace(
        first.accepted,
        accepted=first.accepted.accepted + storage.accepted.accepted,
        rejected=first.accepted.rejected + storage.accepted.rejected,
    )
    folded = replace(first, accepted=accepted)
    return tuple(folded if a is first else a for a in attempts if a is not storage)


def _context_limit_findings(attempts: tuple[Attempt, ...]) -> list[Finding]:
    whole = next((a for a in attempts if a.purpose == "whole-map"), None)
    if whole is None or whole.rejected is None:
        return []
    return [
        catalogue.DICOM_CONTEXT_LIMIT.found(
            f"A-ASSOCIATE-RJ for {len(services.SERVICES)} presentation contexts: "
            f"{whole.rejected.words}; the map was proposed again in two halves"
        )
    ]


def _service_findings(attempt: Attempt, store_note: str | None = None) -> list[Finding]:
    assert attempt.accepted is not None
    findings: list[Finding] = []
    who = f"{called(attempt)}, calling AE {attempt.calling_ae_title!r}"
    by_kind: dict[ServiceKind, list[str]] = {}
    for context in attempt.accepted.accepted:
        kind = services.kind_of(context.abstract_syntax)
        if kind is not None:
            by_kind.setdefault(kind, []).append(services.name_of(context.abstract_syntax))
    find = attempt.find
    if find is not None:
        findings.append(_find_finding(find, who))
    if ServiceKind.STORAGE in by_kind:
        names = by_kind[ServiceKind.STORAGE]
        findings.append(
            catalogue.DICOM_STORAGE_ACCEPTED.found(
                f"A-ASSOCIATE-AC for {who} accepted {len(names)} storage SOP class(es): "
                f"{', '.join(names)} (nothing was sent)" + (f"; {store_note}" if store_note else "")
            )
        )
    retrieve = by_kind.get(ServiceKind.MOVE, []) + by_kind.get(ServiceKind.GET, [])
    if retrieve:
        findings.append(
            catalogue.DICOM_RETRIEVE_OFFERED.found(
                f"A-ASSOCIATE-AC for {who} accepted {', '.join(retrieve)} (never exercised)"
            )
        )
    if ServiceKind.WORKLIST in by_kind:
        findings.append(_worklist_finding(attempt, who))
    if attempt.echo_status == 0x0000:
        findings.append(
            catalogue.DICOM_ECHO_UNAUTHENTICATED.found(
                f"A-ASSOCIATE-AC for {who}; C-ECHO status 0x0000"
            )
        )
    elif not findings:
        if attempt.echo_status is not None:
            outcome = f"C-ECHO status 0x{attempt.echo_status:04x}"
        elif not by_kind:
            outcome = "no presentation context accepted"
        else:
            outcome = "C-ECHO not answered"
        findings.append(
            catalogue.DICOM_ASSOCIATION_ACCEPTED.found(f"A-ASSOCIATE-AC for {who}; {outcome}")
        )
    return findings


def _find_finding(find: FindOutcome, who: str) -> Finding:
    what = f"{find.service} C-FIND at {find.level} level for {who}{_fresh(find, 'C-ECHO')}"
    if find.count:
        # Matches counted are matches shown, however the query ended afterwards.
        capped = f"at least {find.count} (the cap; then C-CANCEL)" if find.cap_hit else find.count
        ended = "" if find.outcome == FindEnd.MATCHES else f", then the query ended: {find.outcome}"
        return catalogue.DICOM_QUERY_MATCHES.found(
            f"{what} returned {capped} match(es){ended}; identifiers were not kept"
        )
    if find.outcome == FindEnd.EMPTY:
        return catalogue.DICOM_QUERY_ALLOWED.found(f"{what} succeeded with 0 matches")
    status = f" (status 0x{find.final_status:04x})" if find.final_status is not None else ""
    return catalogue.DICOM_QUERY_REFUSED.found(f"{what}: {find.outcome}{status}")


def _worklist_finding(attempt: Attempt, who: str) -> Finding:
    worklist = attempt.worklist
    # Only the C-ECHO comes before a Q/R query that was itself asked afresh.
    ended = "C-ECHO" if attempt.find is None or attempt.find.fresh else "Q/R query"
    if worklist is not None and worklist.count:
        capped = f"at least {worklist.count} (the cap)" if worklist.cap_hit else worklist.count
        return catalogue.DICOM_WORKLIST_MATCHES.found(
            f"worklist-find C-FIND for {who} returned {capped} item(s){_fresh(worklist, ended)}; "
            "identifiers were not kept"
        )
    if worklist is not None and worklist.outcome == FindEnd.EMPTY:
        return catalogue.DICOM_WORKLIST_ALLOWED.found(
            f"worklist-find C-FIND for {who} succeeded with 0 items{_fresh(worklist, ended)}"
        )
    how = (
        "not queried" if worklist is None else f"query {worklist.outcome}{_fresh(worklist, ended)}"
    )
    return catalogue.DICOM_WORKLIST_OFFERED.found(
        f"A-ASSOCIATE-AC for {who} accepted worklist-find ({how})"
    )


def _fresh(outcome: FindOutcome, ended: str) -> str:
    return f" on a fresh association (the {ended} had ended the first)" if outcome.fresh else ""


def _fingerprint(
    attempts: tuple[Attempt, ...], hints: Mapping[str, str] | None = None
) -> Fingerprint | None:
    accepted = next((a.accepted for a in attempts if a.accepted is not None), None)
    if accepted is None:
        return None
    uid, name = accepted.implementation_class_uid, accepted.implementation_version_name
    if not (uid or name):
        return None
    from exposcan.fingerprints import identify

    guess = identify(uid, name, extra_hints=hints)
    return Fingerprint(
        implementation_class_uid=uid,
        implementation_version_name=name,
        product=guess.product if guess else None,
        toolkit=guess.toolkit if guess else None,
        version=guess.version if guess else None,
    )

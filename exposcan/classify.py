"""Observations in, exposure and findings out. Pure: no I/O, no clock.

One classifier for every probe (DESIGN.md, principle 6). Finding ids are
stable: reports, SARIF rules and users' filters key on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from exposcan.dicom import uids
from exposcan.probes.dimse import EchoObservation
from exposcan.results import Finding, Fingerprint
from exposcan.vocabulary import Exposure, Severity


@dataclass(frozen=True, slots=True)
class Verdict:
    exposure: Exposure
    findings: tuple[Finding, ...]
    fingerprint: Fingerprint | None
    services: tuple[str, ...]
    ae_title: str | None


_REMEDIATE_AE = (
    "Accept associations only from known AE titles and addresses (an AE whitelist "
    "with host checks), and keep the archive off networks strangers reach."
)

SERVICE_NAMES = {uids.VERIFICATION: "verification"}


def classify_echo(observation: EchoObservation) -> Verdict:
    fingerprint = _fingerprint(observation)
    accepted = observation.accepted
    if accepted is not None:
        services = tuple(
            SERVICE_NAMES.get(c.abstract_syntax, c.abstract_syntax) for c in accepted.accepted
        )
        who = (
            f"called AE {observation.called_ae_title!r}, "
            f"calling AE {observation.calling_ae_title!r}"
        )
        if observation.echo_status == 0x0000:
            finding = Finding(
                id="dicom-echo-unauthenticated",
                severity=Severity.MEDIUM,
                title="DICOM C-ECHO answered for an AE title anyone could guess",
                evidence=f"A-ASSOCIATE-AC for {who}; C-ECHO status 0x0000",
                remediation=_REMEDIATE_AE,
            )
            return Verdict(
                Exposure.ECHO, (finding,), fingerprint, services, observation.called_ae_title
            )
        if observation.echo_status is not None:
            outcome = f"C-ECHO status 0x{observation.echo_status:04x}"
        elif not accepted.accepted:
            outcome = "no presentation context accepted"
        elif observation.aborted is not None:
            outcome = "association aborted before C-ECHO answered"
        else:
            outcome = "C-ECHO not answered"
        finding = Finding(
            id="dicom-association-accepted",
            severity=Severity.INFO,
            title="DICOM association accepted, but C-ECHO did not succeed",
            evidence=f"A-ASSOCIATE-AC for {who}; {outcome}",
            remediation=_REMEDIATE_AE,
        )
        return Verdict(Exposure.PROTECTED, (finding,), fingerprint, services, None)
    if observation.rejected is not None:
        rj = observation.rejected
        finding = Finding(
            id="dicom-association-rejected",
            severity=Severity.INFO,
            title="DICOM service refused the association",
            evidence=(
                f"A-ASSOCIATE-RJ for called AE {observation.called_ae_title!r}: {rj.words} "
                f"(result {rj.result}, source {rj.source}, reason {rj.reason})"
            ),
        )
        return Verdict(Exposure.PROTECTED, (finding,), fingerprint, (), None)
    if observation.aborted is not None:
        ab = observation.aborted
        finding = Finding(
            id="dicom-association-aborted",
            severity=Severity.INFO,
            title="DICOM service aborted the association request",
            evidence=(
                f"A-ABORT from {ab.source_text}"
                + (f": {ab.reason_text}" if ab.reason_text else "")
                + f" (source {ab.source}, reason {ab.reason})"
            ),
        )
        return Verdict(Exposure.PROTECTED, (finding,), fingerprint, (), None)
    return Verdict(Exposure.NONE, (), None, (), None)


def _fingerprint(observation: EchoObservation) -> Fingerprint | None:
    accepted = observation.accepted
    if accepted is None:
        return None
    if not (accepted.implementation_class_uid or accepted.implementation_version_name):
        return None
    return Fingerprint(
        implementation_class_uid=accepted.implementation_class_uid,
        implementation_version_name=accepted.implementation_version_name,
    )

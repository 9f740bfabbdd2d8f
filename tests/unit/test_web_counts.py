"""Which count a web endpoint's matches report when several paths counted something."""

from __future__ import annotations

import pytest

from exposcan.classify_web import classify_web
from exposcan.probes.web.observation import Outcome, ServiceCheck, WebObservation, WebService
from exposcan.vocabulary import Protocol, Status


def observed(*checks: ServiceCheck) -> WebObservation:
    return WebObservation(
        host="127.0.0.1",
        port=8080,
        protocol=Protocol.HTTP,
        status=Status.SUCCESS,
        detail=None,
        requests=(),
        checks=checks,
    )


def qido(studies: int) -> ServiceCheck:
    outcome = Outcome.LISTED if studies else Outcome.EMPTY
    return ServiceCheck(
        service=WebService.DICOMWEB_QIDO, path="/dicom-web/studies?limit=1", outcome=outcome,
        studies=studies, cap=1,
    )  # fmt: skip


def dicoogle(instances: int) -> ServiceCheck:
    outcome = Outcome.LISTED if instances else Outcome.EMPTY
    return ServiceCheck(
        service=WebService.DICOOGLE_SEARCH, path="/search", outcome=outcome,
        instances=instances, exact=True,
    )  # fmt: skip


def patients(count: int) -> ServiceCheck:
    outcome = Outcome.LISTED if count else Outcome.EMPTY
    return ServiceCheck(
        service=WebService.CONQUEST_PATIENT_LIST, path="/cgi-bin/dgate", outcome=outcome,
        patients=count,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ((qido(1), dicoogle(5000)), (1, "STUDY")),  # studies first when some were counted
        ((qido(0), dicoogle(5000)), (5000, "IMAGE")),  # an empty level is passed over
        ((qido(0), patients(7)), (7, "PATIENT")),
        ((patients(0), dicoogle(12)), (12, "IMAGE")),
        ((qido(0), dicoogle(0)), (0, "STUDY")),  # nothing anywhere: the first level's zero
        ((dicoogle(3),), (3, "IMAGE")),
    ],
)
def test_matches_report_the_first_level_that_counted_something(checks, expected):
    matches = classify_web(observed(*checks)).matches
    assert matches is not None
    assert (matches.count, matches.level) == expected


def test_nothing_counted_is_no_matches():
    assert classify_web(observed()).matches is None

"""Modality Worklist (PS3.4 Annex K): counted like Q/R matches, never read.

A worklist open to strangers lists the patients scheduled on a modality. Where the
A-ASSOCIATE-AC accepts the Modality Worklist Information Model - FIND, exposcan asks
for the fewest keys (Study Instance UID only), counts the pending responses up to
``max_matches`` (then C-CANCEL) and keeps the count.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import evt

from exposcan.classify import classify_dimse
from exposcan.dicom import dimse, services, uids
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import probe_dimse
from exposcan.vocabulary import Exposure
from tests.support.scps import ScpLauncher

FAST = Timeouts(connect=2.0, read=2.0, release=1.0, endpoint=8.0)
MARKER = "ZZWORKLIST"
STUDY_ROOT_FIND = services.STUDY_ROOT_FIND


@dataclass
class WorklistScp:
    port: int
    items: int
    asked: list[list[str]] = field(default_factory=list)  # keywords of each identifier
    cancelled: list[bool] = field(default_factory=list)
    sent: int = 0


def _scheduled(index: int) -> Dataset:
    item = Dataset()
    item.PatientName = f"{MARKER}^PATIENT{index:04d}"
    item.PatientID = f"{MARKER}{index:06d}"
    item.AccessionNumber = f"{MARKER}A{index:05d}"
    item.StudyInstanceUID = generate_uid()
    return item


@pytest.fixture
def worklist_scp(scp_launcher: ScpLauncher) -> Callable[..., WorklistScp]:
    def start(
        items: int,
        *,
        study_root_matches: int | None = None,
        delay: float = 0.0,
        abort_study_root: bool = False,
    ) -> WorklistScp:
        offered = [uids.VERIFICATION, services.WORKLIST_FIND]
        if study_root_matches is not None:
            offered.append(STUDY_ROOT_FIND)
        server_log = WorklistScp(port=0, items=items)

        def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
            identifier = event.identifier
            server_log.asked.append(sorted(e.keyword for e in identifier))
            is_worklist = event.request.AffectedSOPClassUID == services.WORKLIST_FIND
            if abort_study_root and not is_worklist:
                event.assoc.abort()  # Orthanc's answer to a stranger's query
                return
            count = items if is_worklist else (study_root_matches or 0)
            for index in range(count):
                if event.is_cancelled:
                    server_log.cancelled.append(True)
                    yield 0xFE00, None
                    return
                if delay:
                    time.sleep(delay)
                server_log.sent += 1
                yield 0xFF00, _scheduled(index)
            server_log.cancelled.append(False)
            yield 0x0000, None

        server = scp_launcher.start(
            "RIS",
            contexts=offered,
            handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000), (evt.EVT_C_FIND, on_find)],
        )
        server_log.port = server.server_address[1]
        return server_log

    return start


def _probe(port: int, **options: Any) -> Any:
    options = {"timeouts": FAST, "ae_attempts": 1, **options}
    return probe_dimse("127.0.0.1", port, ScanOptions(**options))


def _no_marker(verdict: Any, observation: Any) -> None:
    text = json.dumps([f.to_dict() for f in verdict.findings]) + repr(observation)
    assert MARKER not in text


def test_worklist_identifier_asks_for_study_instance_uid_only() -> None:
    # PS3.5 §7.1.2: (0020,000D) UI, length 0: universal matching, nothing else asked.
    assert dimse.find_identifier("WORKLIST", uids.IMPLICIT_VR_LITTLE_ENDIAN) == (
        b"\x20\x00\x0d\x00" + b"\x00\x00\x00\x00"
    )


async def test_open_worklist_is_counted_and_is_query(worklist_scp) -> None:  # type: ignore[no-untyped-def]
    scp = worklist_scp(3)
    observation = await _probe(scp.port)
    worklist = observation.first.worklist
    assert worklist is not None
    assert (worklist.outcome, worklist.count, worklist.level) == ("matches", 3, "WORKLIST")
    assert scp.asked == [["StudyInstanceUID"]]
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.level) == (3, "WORKLIST")
    assert "dicom-worklist-matches" in {f.id for f in verdict.findings}
    assert observation.first.released
    _no_marker(verdict, observation)


async def test_empty_worklist_is_allowed_but_not_query(worklist_scp) -> None:  # type: ignore[no-untyped-def]
    scp = worklist_scp(0)
    observation = await _probe(scp.port)
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.ECHO
    assert "dicom-worklist-allowed" in {f.id for f in verdict.findings}


async def test_long_worklist_is_capped_then_cancelled(worklist_scp) -> None:  # type: ignore[no-untyped-def]
    scp = worklist_scp(500, delay=0.002)
    observation = await _probe(scp.port, max_matches=20)
    worklist = observation.first.worklist
    assert worklist is not None
    assert (worklist.count, worklist.cancelled, worklist.cap_hit) == (20, True, True)
    assert scp.cancelled == [True]
    assert scp.sent < 500
    _no_marker(classify_dimse(observation), observation)


async def test_no_worklist_query_with_no_find(worklist_scp) -> None:  # type: ignore[no-untyped-def]
    scp = worklist_scp(3)
    observation = await _probe(scp.port, find=False)
    assert observation.first.worklist is None
    assert scp.asked == []
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.ECHO
    assert "dicom-worklist-offered" in {f.id for f in verdict.findings}


async def test_archive_and_worklist_both_counted(worklist_scp) -> None:  # type: ignore[no-untyped-def]
    scp = worklist_scp(4, study_root_matches=2)
    observation = await _probe(scp.port)
    assert observation.first.find is not None
    assert observation.first.find.count == 2
    assert observation.first.worklist is not None
    assert observation.first.worklist.count == 4
    verdict = classify_dimse(observation)
    # The archive's count is the endpoint's matches; the worklist's is its own finding.
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.level) == (2, "STUDY")
    ids = {f.id for f in verdict.findings}
    assert {"dicom-query-matches", "dicom-worklist-matches"} <= ids
    assert scp.asked == [["QueryRetrieveLevel", "StudyInstanceUID"], ["StudyInstanceUID"]]


async def test_worklist_behind_an_aborted_query_is_asked_on_a_fresh_association(  # type: ignore[no-untyped-def]
    worklist_scp,
) -> None:
    """Orthanc's default for strangers: the Study Root C-FIND aborts the association, the
    worklist (its plugin) answers. One more association, the worklist model only."""
    scp = worklist_scp(3, study_root_matches=0, abort_study_root=True)
    observation = await _probe(scp.port, ae_attempts=2)
    opening, fresh = observation.attempts
    assert opening.find is not None
    assert opening.find.outcome == "aborted"
    assert opening.worklist is None
    assert fresh.purpose == "worklist"
    assert fresh.called_ae_title == opening.called_ae_title  # the title that got in
    assert fresh.accepted is not None
    # the worklist model alone: no Verification, so no C-ECHO that could end it again
    assert {c.abstract_syntax for c in fresh.accepted.accepted} == {services.WORKLIST_FIND}
    assert fresh.echo_status is None
    assert fresh.worklist is not None
    assert fresh.worklist.count == 3
    assert fresh.released
    assert scp.asked == [["QueryRetrieveLevel", "StudyInstanceUID"], ["StudyInstanceUID"]]
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.level) == (3, "WORKLIST")
    ids = {f.id for f in verdict.findings}
    assert {"dicom-query-refused", "dicom-worklist-matches"} <= ids
    assert "dicom-worklist-offered" not in ids
    worklist = next(f for f in verdict.findings if f.id == "dicom-worklist-matches")
    assert "fresh association (the Q/R query had ended the first)" in worklist.evidence
    _no_marker(verdict, observation)


async def test_no_fresh_worklist_association_without_budget(worklist_scp) -> None:  # type: ignore[no-untyped-def]
    scp = worklist_scp(3, study_root_matches=0, abort_study_root=True)
    observation = await _probe(scp.port)  # ae_attempts=1: the opening only
    assert len(observation.attempts) == 1
    assert scp.asked == [["QueryRetrieveLevel", "StudyInstanceUID"]]
    verdict = classify_dimse(observation)
    assert verdict.exposure is not Exposure.QUERY
    assert "dicom-worklist-offered" in {f.id for f in verdict.findings}

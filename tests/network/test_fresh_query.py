"""The query behind an aborted C-ECHO (issue 14), without Orthanc: a loopback pynetdicom
SCP that answers a stranger's C-ECHO with an A-ABORT and its C-FIND with matches, as
Orthanc does with ``DicomAlwaysAllowEcho`` false and ``DicomAlwaysAllowFind`` true.
exposcan asks the query on one fresh association that proposes the FIND models without
Verification, within the budget, and counts its matches as the first association's.
The strategy itself is tests/unit/test_fresh_associations.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pynetdicom import evt

import exposcan
from exposcan.classify import classify_dimse
from exposcan.dicom import services, uids
from exposcan.vocabulary import Exposure
from tests.network.test_worklist import _probe  # loopback timeouts, ae_attempts=1 unless told
from tests.support.scps import MARKER, ScpLauncher, synthetic_match


@dataclass
class EchoRefusingScp:
    port: int
    echoes: int = 0
    #: the SOP class of each C-FIND asked
    finds: list[str] = field(default_factory=list)
    #: the abstract syntaxes each association proposed
    proposed: list[set[str]] = field(default_factory=list)


@pytest.fixture
def echo_refusing_scp(scp_launcher: ScpLauncher) -> Callable[..., EchoRefusingScp]:
    def start(matches: int, *, worklist: bool = False) -> EchoRefusingScp:
        offered = [uids.VERIFICATION, services.STUDY_ROOT_FIND]
        if worklist:
            offered.append(services.WORKLIST_FIND)
        log = EchoRefusingScp(port=0)

        def on_requested(event: Any) -> None:
            contexts = event.assoc.requestor.requested_contexts
            log.proposed.append({str(c.abstract_syntax) for c in contexts})

        def on_echo(event: Any) -> int:
            log.echoes += 1
            event.assoc.abort()  # Orthanc's answer to a stranger's C-ECHO
            return 0x0000

        def on_find(event: Any) -> Any:
            log.finds.append(str(event.request.AffectedSOPClassUID))
            for index in range(matches):
                if event.is_cancelled:
                    yield 0xFE00, None
                    return
                yield 0xFF00, synthetic_match(index)
            yield 0x0000, None

        server = scp_launcher.start(
            "ECHO-REFUSED",
            contexts=offered,
            handlers=[
                (evt.EVT_REQUESTED, on_requested),
                (evt.EVT_C_ECHO, on_echo),
                (evt.EVT_C_FIND, on_find),
            ],
        )
        log.port = int(server.server_address[1])
        return log

    return start


def _no_marker(verdict: Any, observation: Any) -> None:
    """No value of a match reached the findings or the observation."""
    assert MARKER not in json.dumps([f.to_dict() for f in verdict.findings]) + repr(observation)


async def test_the_query_behind_an_aborted_echo_is_asked_on_a_fresh_association(  # type: ignore[no-untyped-def]
    echo_refusing_scp,
) -> None:
    scp = echo_refusing_scp(3)
    observation = await _probe(scp.port, ae_attempts=2)
    opening, fresh = observation.attempts
    assert opening.aborted is not None
    assert opening.echo_status is None
    assert opening.find is None
    assert fresh.purpose == "query"
    assert fresh.called_ae_title == opening.called_ae_title  # the title that got in
    # the FIND models alone: no Verification, so the C-ECHO is not sent again
    assert uids.VERIFICATION not in scp.proposed[1]
    assert services.STUDY_ROOT_FIND in scp.proposed[1]
    assert scp.echoes == 1
    assert fresh.accepted is not None
    assert {c.abstract_syntax for c in fresh.accepted.accepted} == {services.STUDY_ROOT_FIND}
    assert fresh.find is not None
    assert (fresh.find.outcome, fresh.find.count) == ("matches", 3)
    assert fresh.released
    assert scp.finds == [services.STUDY_ROOT_FIND]
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.level) == (3, "STUDY")
    by_id = {f.id: f for f in verdict.findings}
    assert "fresh association (the C-ECHO had ended the first)" in (
        by_id["dicom-query-matches"].evidence
    )
    assert "dicom-echo-unauthenticated" not in by_id
    assert "aborted" in (verdict.detail or "")
    _no_marker(verdict, observation)


async def test_the_worklist_behind_the_aborted_echo_is_asked_with_the_query(  # type: ignore[no-untyped-def]
    echo_refusing_scp,
) -> None:
    scp = echo_refusing_scp(2, worklist=True)
    observation = await _probe(scp.port, ae_attempts=3)
    assert [a.purpose for a in observation.attempts] == ["random", "query"]  # one fresh
    assert scp.finds == [services.STUDY_ROOT_FIND, services.WORKLIST_FIND]
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.QUERY
    ids = {f.id for f in verdict.findings}
    assert {"dicom-query-matches", "dicom-worklist-matches"} <= ids


async def test_no_fresh_association_without_budget(echo_refusing_scp) -> None:  # type: ignore[no-untyped-def]
    scp = echo_refusing_scp(3)
    observation = await _probe(scp.port)  # ae_attempts=1: the opening only
    assert len(observation.attempts) == 1
    assert scp.finds == []
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.PROTECTED  # no storage offered, no echo answered
    assert verdict.matches is None


async def test_a_scan_at_default_options_counts_the_query(  # type: ignore[no-untyped-def]
    echo_refusing_scp, write_scope
) -> None:
    """Through the engine: the per-host rate and the endpoint's budget, as a user scans."""
    scp = echo_refusing_scp(3)
    report = await exposcan.scan(write_scope(["127.0.0.1"], [scp.port]))
    (result,) = report.results
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.matches is not None
    assert (result.matches.count, result.matches.level) == (3, "STUDY")
    assert result.attempts == 2
    assert scp.echoes == 1
    assert MARKER not in json.dumps(result.to_dict())

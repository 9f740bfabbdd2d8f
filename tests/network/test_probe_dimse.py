"""The DIMSE probe and its verdicts against real pynetdicom SCPs and scripted peers."""

from __future__ import annotations

import asyncio
import time

from exposcan.classify import Verdict, classify_dimse
from exposcan.dicom import uids
from exposcan.lab import free_port
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import DimseObservation, probe_dimse
from exposcan.vocabulary import Exposure, Status
from tests.support.memory import MIB, python_peak_growth
from tests.support.pynetdicom_quirks import close_reset_peer_sockets
from tests.support.scps import MARKER, FindLog

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
FAST = ScanOptions(timeouts=Timeouts(connect=1, read=1, release=1, endpoint=2))


DEFAULT = ScanOptions()


async def probe(
    port: int, options: ScanOptions = DEFAULT, **kw
) -> tuple[DimseObservation, Verdict]:
    observation = await probe_dimse("127.0.0.1", port, options, **kw)
    return observation, classify_dimse(observation)


def ids(verdict: Verdict) -> set[str]:
    return {f.id for f in verdict.findings}


async def test_any_ae_accepted_is_echo_and_no_ae_check(scp_factory):
    port = scp_factory("OPEN")
    observation, verdict = await probe(port)
    first = observation.first
    assert first.status is Status.SUCCESS
    assert first.echo_status == 0
    assert first.released
    assert verdict.exposure is Exposure.ECHO
    # One association: the random title that carried the probe proves any title works.
    assert [a.purpose for a in observation.attempts] == ["random"]
    assert len(first.called_ae_title) == 16
    assert verdict.ae_title == "(any)"
    assert verdict.services == ("verification",)
    assert ids(verdict) == {"dicom-echo-unauthenticated", "dicom-ae-title-not-checked"}
    (any_title,) = [f for f in verdict.findings if f.id == "dicom-ae-title-not-checked"]
    assert first.called_ae_title in any_title.evidence
    assert verdict.fingerprint is not None
    assert verdict.fingerprint.implementation_version_name.startswith("PYNETDICOM")


async def test_a_named_called_title_is_asked_first_then_a_random_one(scp_factory):
    port = scp_factory("OPEN")
    observation, verdict = await probe(port, ScanOptions(called_ae_title="SITE-PACS"))
    assert [a.purpose for a in observation.attempts] == ["first", "random"]
    assert observation.first.called_ae_title == "SITE-PACS"
    assert observation.first.echo_status == 0
    assert verdict.ae_title == "SITE-PACS"
    assert ids(verdict) == {"dicom-echo-unauthenticated", "dicom-ae-title-not-checked"}


async def test_any_scp_configured_is_guessable(scp_factory):
    port = scp_factory("ANY-SCP", require_called_aet=True)
    observation, verdict = await probe(port, stock_titles=("ORTHANC",))
    assert [a.purpose for a in observation.attempts] == ["random", "first"]
    assert observation.attempts[1].called_ae_title == "ANY-SCP"
    assert verdict.exposure is Exposure.ECHO
    assert verdict.ae_title == "ANY-SCP"
    assert "dicom-called-ae-guessable" in ids(verdict)
    assert "dicom-ae-title-not-checked" not in ids(verdict)


async def test_called_ae_checked_is_protected_with_reason(scp_factory):
    port = scp_factory("GUARDED", require_called_aet=True)
    options = ScanOptions(ae_attempts=3)
    observation, verdict = await probe(port, options, stock_titles=("NOPE1", "NOPE2", "NOPE3"))
    assert observation.first.rejected is not None
    assert observation.first.rejected.reason == 7
    # The random opening and ANY-SCP are the first two of the three.
    titles = [a.called_ae_title for a in observation.attempts]
    assert titles[1:] == ["ANY-SCP", "NOPE1"]
    assert observation.first is observation.attempts[0]
    assert verdict.exposure is Exposure.PROTECTED
    assert ids(verdict) == {"dicom-called-ae-checked", "dicom-association-rejected"}
    assert "called AE title not recognised" in " ".join(f.evidence for f in verdict.findings)


async def test_stock_title_gets_in(scp_factory):
    port = scp_factory("STOCKPACS", require_called_aet=True)
    observation, verdict = await probe(port, stock_titles=("ORTHANC", "STOCKPACS", "LATER"))
    titles = [a.called_ae_title for a in observation.attempts]
    assert titles[1:] == ["ANY-SCP", "ORTHANC", "STOCKPACS"]
    assert verdict.exposure is Exposure.ECHO
    assert verdict.ae_title == "STOCKPACS"
    assert "dicom-stock-ae-title" in ids(verdict)


async def test_attempt_budget_is_respected(scp_factory):
    port = scp_factory("HIDDEN", require_called_aet=True)
    titles = tuple(f"T{i}" for i in range(20))
    observation, verdict = await probe(port, ScanOptions(ae_attempts=2), stock_titles=titles)
    assert len(observation.attempts) == 2
    assert verdict.exposure is Exposure.PROTECTED


async def test_user_titles_come_first(scp_factory):
    port = scp_factory("MINE", require_called_aet=True)
    options = ScanOptions(ae_titles=("MINE",))
    observation, verdict = await probe(port, options, stock_titles=("ORTHANC",))
    titles = [a.called_ae_title for a in observation.attempts]
    assert titles[1:] == ["MINE"]  # after the random opening, before ANY-SCP
    assert verdict.ae_title == "MINE"


async def test_calling_ae_checked_stops_at_once(scp_factory):
    port = scp_factory("PICKY", require_calling_aet=("MODALITY1",))
    observation, verdict = await probe(port, stock_titles=("ORTHANC",))
    assert len(observation.attempts) == 1
    assert observation.first.rejected is not None
    assert observation.first.rejected.reason == 3
    assert verdict.exposure is Exposure.PROTECTED
    assert "dicom-calling-ae-checked" in ids(verdict)


async def test_storage_accepted_is_store(scp_factory):
    port = scp_factory("STORE", contexts=(uids.VERIFICATION, CT_IMAGE_STORAGE))
    _, verdict = await probe(port)
    assert verdict.exposure is Exposure.STORE
    assert "ct-storage" in verdict.services
    assert "dicom-storage-accepted" in ids(verdict)


async def test_no_useful_context_is_protected(scp_factory):
    port = scp_factory("ODD", contexts=("1.2.840.10008.5.1.4.1.1.66",))  # raw data storage
    observation, verdict = await probe(port)
    assert observation.first.accepted is not None
    assert verdict.exposure is Exposure.PROTECTED
    assert observation.first.echo_status is None
    assert "dicom-association-accepted" in ids(verdict)


async def test_failed_echo_status_is_protected(scp_factory):
    port = scp_factory("GRUMPY", echo_status=0xC000)
    observation, verdict = await probe(port)
    assert observation.first.echo_status == 0xC000
    assert verdict.exposure is Exposure.PROTECTED
    assert any("0xc000" in f.evidence for f in verdict.findings)


async def test_find_counts_to_the_cap_then_cancels(scp_factory):
    log = FindLog()
    port = scp_factory("QR", find_matches=5000, find_log=log)
    options = ScanOptions(max_matches=100)
    observation, verdict = await probe(port, options)
    assert verdict.status is Status.SUCCESS
    assert observation.first.released  # C-CANCEL honoured, then a polite release
    find = observation.first.find
    assert find is not None
    assert find.count == 100
    assert find.cancelled
    assert find.outcome == "matches"
    assert log.cancelled
    assert log.sent < 5000  # the SCP stopped after C-CANCEL
    assert log.levels == ["STUDY"]
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert verdict.matches.cap_hit
    assert "dicom-query-matches" in ids(verdict)
    assert MARKER not in repr(observation) + repr(verdict)


async def test_find_counts_fewer_than_the_cap(scp_factory):
    port = scp_factory("QR", find_matches=7)
    observation, verdict = await probe(port)
    assert verdict.status is Status.SUCCESS
    assert observation.first.find is not None
    assert observation.first.find.count == 7
    assert not observation.first.find.cancelled
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.cap_hit) == (7, False)
    assert verdict.exposure is Exposure.QUERY


async def test_find_empty_is_not_query(scp_factory):
    port = scp_factory("EMPTY", find_matches=0)
    _, verdict = await probe(port)
    assert verdict.status is Status.SUCCESS
    assert verdict.exposure is Exposure.ECHO
    assert "dicom-query-allowed" in ids(verdict)


async def test_find_refused_is_not_query(scp_factory):
    port = scp_factory("NOFIND", find_status=0xA700)
    observation, verdict = await probe(port)
    assert verdict.status is Status.SUCCESS
    assert observation.first.find is not None
    assert observation.first.find.outcome == "refused"
    assert verdict.exposure is Exposure.ECHO
    assert "dicom-query-refused" in ids(verdict)


async def test_no_find_option_sends_no_query(scp_factory):
    log = FindLog()
    port = scp_factory("QR", find_matches=10, find_log=log)
    observation, verdict = await probe(port, ScanOptions(find=False))
    assert verdict.status is Status.SUCCESS
    assert log.requests == 0
    assert observation.first.find is None
    assert verdict.exposure is Exposure.ECHO


async def test_closed_port_is_none():
    observation, verdict = await probe(free_port())
    assert observation.first.status is Status.CONNECTION_REFUSED
    assert verdict.exposure is Exposure.NONE
    assert len(observation.attempts) == 1


async def test_silent_peer_ends_within_the_endpoint_deadline(listener_factory):
    async def silent(reader, writer, listener):
        await asyncio.sleep(30)

    listener = await listener_factory(behaviour=silent)
    started = time.monotonic()
    _, verdict = await probe(listener.port, FAST)
    elapsed = time.monotonic() - started
    assert verdict.status is Status.IO_TIMEOUT
    assert verdict.exposure is Exposure.NONE
    assert elapsed < FAST.timeouts.endpoint + 0.5


async def test_http_banner_is_a_protocol_error(listener_factory):
    async def http(reader, writer, listener):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    listener = await listener_factory(behaviour=http)
    _, verdict = await probe(listener.port, FAST)
    assert verdict.status is Status.PROTOCOL_ERROR
    assert verdict.exposure is Exposure.NONE


async def test_close_after_request_is_connection_closed(listener_factory):
    async def hang_up(reader, writer, listener):
        await reader.read(1024)

    listener = await listener_factory(behaviour=hang_up)
    _, verdict = await probe(listener.port, FAST)
    assert verdict.status is Status.CONNECTION_CLOSED
    assert verdict.exposure is Exposure.NONE


async def test_gigabyte_header_is_refused_at_the_header_and_its_body_never_buffered(
    listener_factory,
):
    """An A-ASSOCIATE-AC header announcing 4 GiB, then its "body" as fast as TCP takes it:
    refused from the header alone, and none of the body is kept (Python's peak allocation
    stays far below what the peer sends)."""
    sent = 0
    body = bytes(64 * 1024)

    async def huge(reader, writer, listener):
        nonlocal sent
        await reader.read(1024)
        writer.write(b"\x02\x00\xff\xff\xff\xff")  # A-ASSOCIATE-AC announcing 4 GiB
        for _ in range(1024):  # at most 64 MiB, until the client goes away
            writer.write(body)
            await writer.drain()
            sent += len(body)

    listener = await listener_factory(behaviour=huge)
    with python_peak_growth() as growth:
        observation, verdict = await probe(listener.port, FAST)
    assert verdict.status is Status.PROTOCOL_ERROR
    assert "announces 4294967295 bytes" in (verdict.detail or "")  # the header, not a timeout
    assert observation.first.status is Status.PROTOCOL_ERROR
    assert sent < 64 * 1024 * 1024  # the client hung up instead of reading on
    assert growth.peak < 1 * MIB, f"peak {growth.peak_mib:.2f} MiB while the peer sent {sent}"


async def test_identity_on_the_wire_is_exposcans(listener_factory):
    """The A-ASSOCIATE-RQ names EXPOSCAN and our implementation UID: honest identity."""

    async def record(reader, writer, listener):
        listener.received += await reader.read(4096)

    listener = await listener_factory(behaviour=record)
    await probe(listener.port, FAST)
    sent = bytes(listener.received)
    assert sent[0] == 0x01
    assert sent[26:42] == b"EXPOSCAN        "  # calling AE, PS3.8 Table 9-11
    assert uids.IMPLEMENTATION_CLASS_UID.encode() in sent
    assert uids.VERIFICATION.encode() in sent


async def test_find_peer_ignoring_cancel_is_cut_off(monkeypatch, scp_factory):
    close_reset_peer_sockets(monkeypatch)  # the peer is reset while it streams
    log = FindLog()
    port = scp_factory(
        "DEAF", find_matches=200_000, honour_cancel=False, find_log=log, find_delay=0
    )
    options = ScanOptions(
        max_matches=50, timeouts=Timeouts(connect=2, read=2, release=0.5, endpoint=10)
    )
    started = time.monotonic()
    observation, verdict = await probe(port, options)
    assert time.monotonic() - started < options.timeouts.endpoint
    assert verdict.status is Status.SUCCESS
    assert verdict.detail == "peer ignored C-CANCEL"
    assert not observation.first.released  # cut off with A-ABORT, not released
    find = observation.first.find
    assert find is not None
    assert find.outcome == "ignored-cancel"
    assert find.count == 50
    assert verdict.exposure is Exposure.QUERY
    assert log.cancelled

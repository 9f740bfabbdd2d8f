"""The C-ECHO probe and its verdicts against real pynetdicom SCPs and scripted peers."""

from __future__ import annotations

import asyncio
import time

from exposcan.classify import classify_echo
from exposcan.dicom.uids import VERIFICATION
from exposcan.lab import free_port
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import probe_echo
from exposcan.vocabulary import Exposure, Status

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
FAST = ScanOptions(timeouts=Timeouts(connect=1, read=1, release=1, endpoint=2))


async def test_any_ae_accepted_is_echo(scp_factory):
    port = scp_factory("OPEN")
    observation = await probe_echo("127.0.0.1", port, ScanOptions())
    verdict = classify_echo(observation)
    assert observation.status is Status.SUCCESS
    assert observation.echo_status == 0
    assert observation.released
    assert verdict.exposure is Exposure.ECHO
    assert verdict.ae_title == "ANY-SCP"
    assert verdict.services == ("verification",)
    assert verdict.findings[0].id == "dicom-echo-unauthenticated"
    assert verdict.fingerprint is not None
    assert verdict.fingerprint.implementation_version_name.startswith("PYNETDICOM")


async def test_called_ae_checked_is_protected_with_reason(scp_factory):
    port = scp_factory("GUARDED", require_called_aet=True)
    observation = await probe_echo("127.0.0.1", port, ScanOptions())
    verdict = classify_echo(observation)
    assert observation.status is Status.SUCCESS
    assert observation.rejected is not None
    assert observation.rejected.reason == 7
    assert verdict.exposure is Exposure.PROTECTED
    assert "called AE title not recognised" in verdict.findings[0].evidence


async def test_the_right_called_ae_gets_in(scp_factory):
    port = scp_factory("GUARDED", require_called_aet=True)
    observation = await probe_echo("127.0.0.1", port, ScanOptions(), called_ae_title="GUARDED")
    assert classify_echo(observation).exposure is Exposure.ECHO
    assert classify_echo(observation).ae_title == "GUARDED"


async def test_calling_ae_checked_is_protected(scp_factory):
    port = scp_factory("PICKY", require_calling_aet=("MODALITY1",))
    observation = await probe_echo("127.0.0.1", port, ScanOptions())
    verdict = classify_echo(observation)
    assert observation.rejected is not None
    assert observation.rejected.reason == 3
    assert verdict.exposure is Exposure.PROTECTED
    assert "calling AE title not recognised" in verdict.findings[0].evidence


async def test_no_verification_context_is_protected(scp_factory):
    port = scp_factory("STOREONLY", contexts=(CT_IMAGE_STORAGE,))
    observation = await probe_echo("127.0.0.1", port, ScanOptions())
    verdict = classify_echo(observation)
    assert verdict.exposure is Exposure.PROTECTED
    assert observation.echo_status is None
    assert verdict.findings[0].id == "dicom-association-accepted"


async def test_failed_echo_status_is_protected(scp_factory):
    port = scp_factory("GRUMPY", echo_status=0xC000)
    observation = await probe_echo("127.0.0.1", port, ScanOptions())
    verdict = classify_echo(observation)
    assert observation.echo_status == 0xC000
    assert verdict.exposure is Exposure.PROTECTED
    assert "0xc000" in verdict.findings[0].evidence


async def test_closed_port_is_none():
    observation = await probe_echo("127.0.0.1", free_port(), ScanOptions())
    assert observation.status is Status.CONNECTION_REFUSED
    assert classify_echo(observation).exposure is Exposure.NONE


async def test_silent_peer_ends_within_the_endpoint_deadline(listener_factory):
    async def silent(reader, writer, listener):
        await asyncio.sleep(30)

    listener = await listener_factory(behaviour=silent)
    started = time.monotonic()
    observation = await probe_echo("127.0.0.1", listener.port, FAST)
    elapsed = time.monotonic() - started
    assert observation.status is Status.IO_TIMEOUT
    assert classify_echo(observation).exposure is Exposure.NONE
    assert elapsed < FAST.timeouts.endpoint + 0.5


async def test_http_banner_is_a_protocol_error(listener_factory):
    async def http(reader, writer, listener):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    listener = await listener_factory(behaviour=http)
    observation = await probe_echo("127.0.0.1", listener.port, FAST)
    assert observation.status is Status.PROTOCOL_ERROR
    assert classify_echo(observation).exposure is Exposure.NONE


async def test_close_after_request_is_connection_closed(listener_factory):
    async def hang_up(reader, writer, listener):
        await reader.read(1024)

    listener = await listener_factory(behaviour=hang_up)
    observation = await probe_echo("127.0.0.1", listener.port, FAST)
    assert observation.status is Status.CONNECTION_CLOSED
    assert classify_echo(observation).exposure is Exposure.NONE


async def test_gigabyte_header_is_refused_without_buffering(listener_factory):
    async def huge(reader, writer, listener):
        await reader.read(1024)
        writer.write(b"\x02\x00\xff\xff\xff\xff")  # A-ASSOCIATE-AC announcing 4 GiB
        await writer.drain()
        await asyncio.sleep(5)

    listener = await listener_factory(behaviour=huge)
    started = time.monotonic()
    observation = await probe_echo("127.0.0.1", listener.port, FAST)
    assert observation.status is Status.PROTOCOL_ERROR
    assert time.monotonic() - started < 1.0  # refused at the header, not at the deadline


async def test_identity_on_the_wire_is_exposcans(listener_factory):
    """The A-ASSOCIATE-RQ names EXPOSCAN and our implementation UID: honest identity."""

    async def record(reader, writer, listener):
        listener.received += await reader.read(4096)

    listener = await listener_factory(behaviour=record)
    await probe_echo("127.0.0.1", listener.port, FAST)
    from exposcan.dicom import uids

    sent = bytes(listener.received)
    assert sent[0] == 0x01
    assert sent[26:42] == b"EXPOSCAN        "  # calling AE, PS3.8 Table 9-11
    assert uids.IMPLEMENTATION_CLASS_UID.encode() in sent
    assert VERIFICATION.encode() in sent

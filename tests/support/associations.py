"""Sans-I/O associations brought to a state by real bytes: feed, drain, and the two
states most tests start from (awaiting the A-ASSOCIATE-AC, established)."""

from __future__ import annotations

from exposcan.dicom import Association, AssociationAccepted, Event, propose
from tests.support import pdu_bytes as golden

VERIFICATION = "1.2.840.10008.1.1"


def drain(association: Association) -> list[Event]:
    events: list[Event] = []
    while (event := association.next_event()) is not None:
        events.append(event)
        assert len(events) < 10_000
    return events


def feed(association: Association, data: bytes, chunk: int | None = None) -> list[Event]:
    """Feed ``data`` in chunks of ``chunk`` bytes (all at once if None), draining events."""
    if chunk is None:
        association.receive_data(data)
        return drain(association)
    events: list[Event] = []
    for start in range(0, len(data), chunk):
        association.receive_data(data[start : start + chunk])
        events += drain(association)
    return events


def awaiting_ac(max_pdu_length: int = 16384) -> Association:
    association = Association(max_pdu_length=max_pdu_length)
    association.request(
        called_ae_title="ANY-SCP", calling_ae_title="EXPOSCAN", contexts=propose([VERIFICATION])
    )
    return association


def established(max_pdu_length: int = 16384) -> Association:
    association = awaiting_ac(max_pdu_length)
    [event] = feed(association, golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    assert isinstance(event, AssociationAccepted)
    return association

"""Coverage-guided fuzzing of the sans-IO DICOM core with atheris.

Any bytes from a peer, in any chunking, in the two states a peer controls
(awaiting the A-ASSOCIATE-AC, and established) must yield events or
``ProtocolError``, never another exception, and never unbounded buffering.

    python fuzz/fuzz_association.py -max_total_time=60       # a minute
    python fuzz/fuzz_association.py -runs=100000 corpus_dir/  # keep a corpus

tests/unit/test_fuzz_atheris.py runs it for a few seconds in the suite.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from exposcan.dicom import Association, ProtocolError, propose
    from exposcan.dicom.association import MAX_ASSOCIATION_PDU
    from exposcan.dicom.services import SERVICES

# A valid A-ASSOCIATE-AC to reach the established state (PS3.8 Table 9-17):
# context 1 (Verification) accepted with Implicit VR Little Endian.
_AC = bytes.fromhex(
    "02000000007e0001000041 4e592d5343502020202020202020204558504f5343414e2020202020202020".replace(
        " ", ""
    )
) + bytes(32)
_AC_ITEMS = (
    b"\x10\x00\x00\x15"
    + b"1.2.840.10008.3.1.1.1"
    + b"\x21\x00\x00\x19\x01\x00\x00\x00"
    + b"\x40\x00\x00\x11"
    + b"1.2.840.10008.1.2"
    + b"\x50\x00\x00\x08"
    + b"\x51\x00\x00\x04\x00\x00\x40\x00"
)
AC = _AC[:2] + (len(_AC) - 6 + len(_AC_ITEMS)).to_bytes(4, "big") + _AC[6:] + _AC_ITEMS
CONTEXTS = propose([s.uid for s in SERVICES])


def fresh(established: bool) -> Association:
    association = Association()
    association.request(contexts=CONTEXTS)
    if established:
        association.receive_data(AC)
        event = association.next_event()
        assert event is not None
        assert association.accepted is not None, event
    return association


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    association = fresh(provider.ConsumeBool())
    chunk = provider.ConsumeIntInRange(1, 4096)
    payload = provider.ConsumeBytes(provider.remaining_bytes())
    try:
        for start in range(0, len(payload), chunk):
            piece = payload[start : start + chunk]
            association.receive_data(piece)
            assert association._framer.buffered <= MAX_ASSOCIATION_PDU + 6 + len(piece)
            while association.next_event() is not None:
                pass
        association.receive_data(b"")
        while association.next_event() is not None:
            pass
    except ProtocolError:
        pass


def main() -> None:
    fresh(True)  # the golden AC must decode, or every input tests nothing
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

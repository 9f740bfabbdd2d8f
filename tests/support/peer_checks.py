"""Checks of a real peer that do not go through exposcan, and small readers of a result.

What a configuration grants a stranger is asked first with DCMTK's clients (``echoscu``,
``findscu``) and a pynetdicom association that proposes storage and releases without a
single DIMSE message, so a wrong verdict cannot hide behind a wrong fixture.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]

from exposcan.results import EndpointResult
from tests.support.peers import Peer

ECHOSCU = Path("/usr/bin/echoscu")
FINDSCU = Path("/usr/bin/findscu")


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def evidence(result: EndpointResult, finding: str) -> str:
    return next(f.evidence for f in result.findings if f.id == finding)


def dcmtk(*argv: str) -> str:
    """A DCMTK client's exit status and output (a missing client fails the test)."""
    if not Path(argv[0]).is_file():
        pytest.fail(f"{argv[0]} missing: apt-get install dcmtk")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def echo(peer: Peer, calling: str, called: str) -> str:
    return dcmtk(str(ECHOSCU), "-v", "-aet", calling, "-aec", called, peer.host, str(peer.port))


def storage_context(peer: Peer, called: str) -> int | None:
    """The A-ASSOCIATE-AC's result for a CT Image Storage context (0 accepted, 1 user
    rejection ...); the association is released without a single DIMSE message."""
    ae = AE(ae_title="CFGCHECK")
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate(peer.host, peer.port, ae_title=called)
    try:
        assert assoc.is_established
        (ct,) = [
            c
            for c in assoc.accepted_contexts + assoc.rejected_contexts
            if c.abstract_syntax == CTImageStorage
        ]
        return ct.result
    finally:
        assoc.release()

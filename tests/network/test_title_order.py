"""The stock-title order learns within one scan: a title that got in on one host is
tried first on the next (exposcan/probes/aetitle_order.py), through the engine."""

from __future__ import annotations

from typing import Any

import exposcan
from exposcan.options import Limits, ScanOptions, Timeouts
from tests.support.scps import ScpLauncher

#: Fifth in the packaged list: found within the default budget on a random port.
TITLE = "READWRITE"


def _guarded(launcher: ScpLauncher, host: str, port: int) -> int:
    """A pynetdicom SCP answering to TITLE only, on ``host`` (a loopback address)."""
    from pynetdicom import AE, evt

    from exposcan.dicom.uids import VERIFICATION

    ae = AE(ae_title=TITLE)
    ae.require_called_aet = True
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.add_supported_context(VERIFICATION)
    server: Any = ae.start_server(
        (host, port), block=False, evt_handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000)]
    )
    launcher.servers.append(server)
    return int(server.server_address[1])


async def test_a_title_found_on_one_host_leads_on_the_next(scp_launcher, write_scope):
    port = _guarded(scp_launcher, "127.0.0.2", 0)
    _guarded(scp_launcher, "127.0.0.3", port)
    options = ScanOptions(
        # One endpoint at a time, so the second host is probed after the first is known.
        limits=Limits(concurrency=1, per_host_rate=20),
        timeouts=Timeouts(connect=1, read=2, release=1, endpoint=8),
    )
    scope = write_scope(["127.0.0.2", "127.0.0.3"], [port])
    report = await exposcan.scan(scope, options=options)
    by_host = {r.host: r for r in report.results}
    assert set(by_host) == {"127.0.0.2", "127.0.0.3"}
    attempts = sorted(r.attempts for r in by_host.values())
    # The first host: a random title, ANY-SCP, ORTHANC, DCM4CHEE, STORESCP, READWRITE.
    # The second: a random title, then READWRITE straight away (before ANY-SCP).
    assert attempts == [2, 6]
    for result in by_host.values():
        assert result.exposure is exposcan.Exposure.ECHO
        assert result.ae_title == TITLE
        assert "dicom-stock-ae-title" in {f.id for f in result.findings}

"""The demo lab's web API: DICOMweb QIDO-RS on 127.0.0.1 that lists studies to anyone.

It answers ``GET /dicom-web/studies`` (Orthanc's default DICOMweb root, the first one
exposcan's web probe asks) with invented studies in the DICOM JSON model (PS3.18 Annex F),
no authentication asked; every other path is a plain 404, so the probe's baseline (a
random path) tells the listing apart from a catch-all page. The standard library's
threaded HTTP server keeps :func:`exposcan.lab.running_lab` a plain context manager that
needs no event loop of its own. Retrieval paths are refused (404) and counted: the demo's
tests check that exposcan never asked for one.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

#: Invented studies the listing holds (no person behind them).
WEB_STUDIES: Final = 2
QIDO_PATH: Final = "/dicom-web/studies"
_DICOM_JSON: Final = "application/dicom+json"


def _study(index: int) -> dict[str, Any]:
    # Values are synthetic and marked (EXPOSCAN-DEMO) so that tests can look for leaks.
    return {
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": f"DEMO^WEB{index}"}]},
        "00100020": {"vr": "LO", "Value": [f"EXPOSCAN-DEMO-W{index}"]},
        "0020000D": {"vr": "UI", "Value": [f"2.25.{index + 1}0000000000000000001"]},
        "00080061": {"vr": "CS", "Value": ["OT"]},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the probe's requests share a connection
    server: _LabHttpServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        retrieval = "/studies/" in url.path or "requesttype" in url.query.lower()
        self.server.count(retrieval)
        if url.path.rstrip("/") != QIDO_PATH:
            self._answer(404, b"not found\n", "text/plain")
            return
        limit = _limit(parse_qs(url.query).get("limit", [""])[0])
        body = json.dumps([_study(i) for i in range(min(limit, WEB_STUDIES))])
        self._answer(200, body.encode(), _DICOM_JSON)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the lab says nothing: the demo's output is the report


def _limit(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return WEB_STUDIES


class _LabHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        super().__init__(address, handler)
        #: requests answered, and those that would have been a retrieval (must stay 0)
        self.requests = 0
        self.retrievals = 0
        self._lock = threading.Lock()  # one handler thread per connection

    def count(self, retrieval: bool) -> None:
        with self._lock:
            self.requests += 1
            self.retrievals += int(retrieval)


class LabWeb:
    """The running web API: ``port``, its counters, :meth:`stop`."""

    def __init__(self, host: str) -> None:
        self._server = _LabHttpServer((host, 0), _Handler)
        self._server.timeout = 5
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    @property
    def retrievals(self) -> int:
        return self._server.retrievals

    @property
    def requests(self) -> int:
        return self._server.requests

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

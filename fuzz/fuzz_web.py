"""Coverage-guided fuzzing of the web probe's parsing path and its retrieval guard.

Two parts per input:

1. A path through :func:`~exposcan.probes.web.safety.check_path`: it returns the very
   string or raises ``UnsafePathError``; what it allows reads as no retrieval, needs no
   reading, and is what yarl puts on the request line.
2. The whole probe plan against a scripted peer: each request the plan sends is answered
   by a fake aiohttp session with a status, headers (``Content-Type``, ``Location``,
   ``WWW-Authenticate``, ``Server``) and a body drawn from the input, shaped like what the
   products answer (Orthanc ``/system`` and ``/statistics``, QIDO-RS JSON, a dcm4chee AE
   listing, an OHIF ``app-config.js``, HTML titles) with peer-chosen text spliced in. The
   real :class:`~exposcan.probes.web.conversation.Conversation` reads headers and the
   capped body, and the real modules interpret them; then the observation is classified
   and turned into a report row. Nothing may raise but the plan's own ``EndpointEnded``;
   every request must pass the guard unchanged, stay on the probe's host and port and
   never follow a redirect; nothing may wait on the network (the plan is driven without
   an event loop).

    python fuzz/fuzz_web.py -max_total_time=60       # a minute
    python fuzz/fuzz_web.py -runs=100000 corpus_dir/  # keep a corpus

tests/unit/test_fuzz_atheris.py runs it for a few seconds in the suite.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Coroutine
from typing import Any

import atheris

with atheris.instrument_imports(include=["exposcan"]):
    from multidict import CIMultiDict
    from yarl import URL

    from exposcan.classify_web import classify_web
    from exposcan.engine import Endpoint, endpoint_result
    from exposcan.options import ScanOptions
    from exposcan.probes.web.answer import EndpointEnded
    from exposcan.probes.web.conversation import Conversation
    from exposcan.probes.web.credentials import CredentialLedger
    from exposcan.probes.web.facts import MAX_REQUESTS
    from exposcan.probes.web.probe import _observation, _plan
    from exposcan.probes.web.safety import (
        UnsafePathError,
        check_path,
        check_readings,
        readings,
    )
    from exposcan.probes.web.session import MAX_BODY_BYTES
    from exposcan.vocabulary import Protocol

HOST = "127.0.0.1"
STATUSES = (200, 200, 200, 204, 301, 302, 307, 400, 401, 403, 404, 497, 500)
CONTENT_TYPES = (
    "application/json",
    "application/dicom+json",
    "application/dicom+json; charset=utf-8",
    "text/html; charset=utf-8",
    "application/javascript",
    "text/plain",
    "",
    None,
)
LOCATIONS = (
    None,
    "app/explorer.html",
    "ui/app/",
    "/auth/realms/dcm4che/protocol/openid-connect/auth?state=@",
    "/dcm4chee-arc/ui2/",
    "http://127.0.0.1:1/@",
    "@",
)
CHALLENGES = (None, 'Basic realm="Orthanc Secure Area"', "Bearer", 'Basic realm="@"', "@")
SERVERS = (None, "Orthanc/1.12.4", "nginx", "@")
# Bodies shaped like the products' answers; "@" is replaced by peer-chosen text.
BODIES = (
    '{"Name":"ORTHANC","Version":"@","ApiVersion":22,"DicomAet":"ORTHANC","DicomPort":4242}',
    '{"Version":"1.12.4","DicomAet":"@","DicomPort":@}',
    '{"CountStudies":@}',
    '["@","@"]',
    '[{"0020000D":{"vr":"UI","Value":["@"]}},{"00100010":{"vr":"PN"}}]',
    '[{"dicomAETitle":"@"},{"title":"DCM4CHEE"}]',
    "window.config={dataSources:[{configuration:{qidoRoot:'@'}}],oidc:[{}]};",
    'window.config={dataSources:[{configuration:{qidoRoot:"http://127.0.0.1:8042@"}}]};',
    "<html><head><title>@</title></head></html>",
    "<html><head><title>OHIF Viewer</title></head><body>@</body></html>",
    "<html><head><title>Orthanc Explorer 2 @</title></head></html>",
    "<title>dcm4chee-arc @</title>",
    "<title>KHEOPS @</title><title>Dicoogle</title>",
    '{"ID":"dicom-web","Version":"@"}',
    '{"version":"@"}',
    "missing parameter requestType @",
    "plain http request was sent to https port @",
    "@",
)


class FakeContent:
    def __init__(self, body: bytes) -> None:
        self._body = body
        self._at = 0

    async def read(self, n: int) -> bytes:
        chunk = self._body[self._at : self._at + n]
        self._at += len(chunk)
        return chunk

    def at_eof(self) -> bool:
        return self._at >= len(self._body)


class FakeResponse:
    connection = None

    def __init__(self, status: int, headers: CIMultiDict[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.content = FakeContent(body)

    def close(self) -> None:
        pass

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class ScriptedPeer:
    """Stands in for the aiohttp session: checks what would be sent, answers from the input."""

    def __init__(self, provider: atheris.FuzzedDataProvider, port: int) -> None:
        self.provider = provider
        self.port = port
        self.sent = 0

    def _text(self, limit: int) -> str:
        return self.provider.ConsumeUnicodeNoSurrogates(self.provider.ConsumeIntInRange(0, limit))

    def _pick(self, options: tuple[Any, ...]) -> Any:
        return options[self.provider.ConsumeIntInRange(0, len(options) - 1)]

    def get(self, url: URL, *, allow_redirects: bool, headers: dict[str, str]) -> FakeResponse:
        assert allow_redirects is False
        assert (url.host, url.port) == (HOST, self.port), url
        assert check_path(url.raw_path_qs) == url.raw_path_qs
        assert "Host" not in headers
        self.sent += 1
        text = self._text(48)
        answer_headers: CIMultiDict[str] = CIMultiDict()
        for name, options in (
            ("Content-Type", CONTENT_TYPES),
            ("Location", LOCATIONS),
            ("WWW-Authenticate", CHALLENGES),
            ("Server", SERVERS),
        ):
            value = self._pick(options)
            if value is not None:
                answer_headers.add(name, value.replace("@", text))
        body = self._pick(BODIES).replace("@", text).encode("utf-8", "surrogatepass")
        if self.provider.ConsumeIntInRange(0, 31) == 31:
            body *= MAX_BODY_BYTES // max(len(body), 1) + 2  # past the cap
        return FakeResponse(self._pick(STATUSES), answer_headers, body)


def check_one_path(path: str) -> None:
    try:
        allowed = check_path(path)
    except UnsafePathError:
        return
    assert allowed is path
    check_readings(path)
    assert len(readings(path.partition("?")[0])) <= 2
    assert URL(f"http://{HOST}:80{path}", encoded=True).raw_path_qs == path


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Drive the plan without an event loop: it must never wait on anything."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    except EndpointEnded:
        return
    coroutine.close()
    raise AssertionError("the plan waited on something other than the scripted peer")


def test_one_input(data: bytes) -> None:
    plan_once(data)


def plan_once(data: bytes) -> int:
    """One input through the guard and the plan; the number of requests sent."""
    provider = atheris.FuzzedDataProvider(data)
    check_one_path(provider.ConsumeUnicodeNoSurrogates(provider.ConsumeIntInRange(0, 120)))
    port = (443, 8042, 80)[provider.ConsumeIntInRange(0, 2)]
    options = ScanOptions(try_default_credentials=provider.ConsumeBool())
    peer = ScriptedPeer(provider, port)
    probe = Conversation(HOST, port, options, peer, None, scheme="http")  # type: ignore[arg-type]
    run(_plan(probe, CredentialLedger()))
    assert peer.sent == len(probe.log.records) <= MAX_REQUESTS
    for record in probe.log.records:
        assert check_path(record.path) is record.path
        assert record.bytes_read <= MAX_BODY_BYTES
    observation = _observation(probe, 0.0, False)
    verdict = classify_web(observation)
    protocol = Protocol.HTTPS if probe.origin.scheme == "https" else Protocol.HTTP
    row = endpoint_result(Endpoint(HOST, port, protocol), observation, verdict)
    json.dumps(row.to_dict(), default=str)
    return peer.sent


def main() -> None:
    # An empty input is an open Orthanc answering 200 with its /system everywhere: the
    # plan must get past the baseline, or every input tests nothing.
    assert plan_once(b"") >= 4
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

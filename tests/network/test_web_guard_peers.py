"""Hostile web peers against the retrieval guard: redirects, AE listings, viewer configs.

Each peer is an aiohttp server on 127.0.0.1 that records every request it receives. It
answers the probe's own paths with redirects to retrieval paths (WADO-URI with
``requestType``, WADO-RS frames and renderings) and to a second listener on another
loopback port, advertises retrieval paths and other origins as its viewer's QIDO roots,
and names AE titles built to climb out of the dcm4chee path. The second listener must see
no connection at all, and every path that reached the peer must be one the guard allows,
sent exactly as the probe recorded it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.web import UnsafePathError, check_path, make_web_session, probe_web
from tests.support.web_peers import RETRIEVAL, WebPeer, WebPeers

HOST = "127.0.0.1"
QUICK = ScanOptions(timeouts=Timeouts(connect=1, read=1, release=1, endpoint=5))
#: Written apart from the guard, case-insensitive: what a retrieval looks like on the wire.
ANY_CASE_RETRIEVAL = re.compile(
    r"/(?:studies|series|instances)/[^?]|frames|rendered|thumbnail|bulkdata|requesttype"
    r"|/wado[/?;]|%2f|%5c|\\|;|/\.\.?(?:/|$)|//",
    re.IGNORECASE,
)
WADO_RETRIEVAL = "/wado?requestType=WADO&studyUID=1.2&seriesUID=1.2.3&objectUID=1.2.3.4"
FRAMES = "/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/1"
OHIF_INDEX = (
    "<!doctype html><html><head><title>OHIF Viewer</title>"
    "<script src='/app-config.js'></script></head><body></body></html>"
)


def hostile_config(other: int) -> str:
    """An OHIF ``app-config.js`` naming retrieval paths and other origins as QIDO roots,
    and one plain same-origin root (the probe must still use that one)."""
    roots = [
        "/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4/frames/1",
        "/wado;x",
        "/DICOM-WEB/STUDIES/1.2",
        "/%2e%2e/wado",
        "/x/..%2Fwado",
        "/studies%2F1",
        "/%252e%252e/wado/",
        "/dicom-web/%2Fframes",
        "/a/../wado",
        "/dicom-web/Studies/1.2/Rendered",
        "/dicom-web//studies/1.2",
        f"http://{HOST}:{other}/dicom-web",
        f"//{HOST}:{other}/dicom-web",
        f"http://localhost:{other}/dicom-web",
        "/viewer-api",
    ]
    sources = ",\n".join(f"  {{configuration: {{qidoRoot: '{r}'}}}}" for r in roots)
    return f"window.config = {{\n dataSources: [\n{sources}\n ],\n}};\n"


def redirector(other: int) -> web.Application:
    """An OHIF deployment whose every data path redirects somewhere it must not go."""
    elsewhere = f"http://{HOST}:{other}"
    redirects = {
        "/system": (302, WADO_RETRIEVAL),
        "/orthanc/system": (302, f"{elsewhere}/system"),
        "/pacs/system": (307, f"//{HOST}:{other}/studies/1.2/rendered"),
        "/dicomweb/system": (308, FRAMES),
        "/dicom-web/studies": (302, f"{elsewhere}/dicom-web/studies?limit=1"),
        "/dicomweb/studies": (301, "/dicomweb/studies/1.2/thumbnail"),
        "/orthanc/dicom-web/studies": (303, "/orthanc/instances/abc/file"),
        "/pacs/dicom-web/studies": (302, "/WADO?REQUESTTYPE=WADO&studyUID=1"),
        "/dicomweb/dicom-web/studies": (302, f"{elsewhere}/"),
        "/wado": (302, WADO_RETRIEVAL + "&contentType=image/jpeg"),
        "/viewer-api/studies": (302, f"{elsewhere}/viewer-api/studies?limit=1"),
    }
    app = web.Application()

    async def anything(request: web.Request) -> web.StreamResponse:
        if request.path == "/":
            return web.Response(text=OHIF_INDEX, content_type="text/html")
        if request.path == "/app-config.js":
            return web.Response(text=hostile_config(other), content_type="text/javascript")
        if request.path in redirects:
            status, location = redirects[request.path]
            return web.Response(status=status, headers={"Location": location})
        raise web.HTTPNotFound()

    app.router.add_get("/{tail:.*}", anything)
    return app


def root_redirector(other: int) -> web.Application:
    """``/`` and the random baseline path redirect to another port's WADO retrieval."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        return web.Response(
            status=302, headers={"Location": f"http://{HOST}:{other}{WADO_RETRIEVAL}"}
        )

    app.router.add_get("/{tail:.*}", anything)
    return app


def dcm4chee_titles(titles: list[str]) -> web.Application:
    """A dcm4chee-arc AE listing whose titles are built to leave the AE's QIDO-RS root."""
    app = web.Application()

    async def aets(request: web.Request) -> web.Response:
        return web.json_response([{"dicomAETitle": t} for t in titles])

    async def anything(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    app.router.add_get("/dcm4chee-arc/aets", aets)
    app.router.add_get("/{tail:.*}", anything)
    return app


async def _probe(peer: WebPeer, options: ScanOptions = QUICK) -> Any:
    async with make_web_session(options) as session:
        return await probe_web(HOST, peer.port, options, session=session)


def _assert_only_guarded_paths(peer: WebPeer, observation: Any) -> None:
    sent = [r.path for r in observation.requests if r.method == "GET"]
    assert peer.paths() == sent  # what arrived is exactly what the probe checked and recorded
    for path in peer.paths():
        assert check_path(path) is path
        assert not RETRIEVAL.search(path), path
        assert not ANY_CASE_RETRIEVAL.search(path), path


async def test_redirects_and_config_roots_never_reach_a_retrieval_or_another_port(
    web_peers: WebPeers,
):
    other = await web_peers.silent("other-port")
    peer = await web_peers.start("redirector", redirector, other.port)
    observation = await _probe(peer)
    assert other.connections == 0, other.log
    _assert_only_guarded_paths(peer, observation)
    paths = peer.paths()
    # The plan ran through: each redirecting path was asked, and the plain root from the
    # viewer's config was used, so the hostile roots beside it were seen and refused.
    assert {"/system", "/orthanc/system", "/dicom-web/studies?limit=1", "/wado"} <= set(paths)
    assert "/app-config.js" in paths
    assert "/viewer-api/studies?limit=1" in paths
    assert observation.viewer_api_elsewhere  # the other origins were noted, not asked
    assert observation.viewers == ("ohif",)


async def test_a_redirect_at_the_root_is_not_followed(web_peers: WebPeers):
    other = await web_peers.silent("other-port")
    peer = await web_peers.start("root-redirector", root_redirector, other.port)
    observation = await _probe(peer)
    assert other.connections == 0
    _assert_only_guarded_paths(peer, observation)
    assert len(peer.paths()) >= 2


@pytest.mark.parametrize(
    "title",
    [
        "../../wado",
        "..",
        ".",
        "STUDIES",
        "A/../../instances",
        "X;y",
        "%2e%2e",
        "DCM4CHEE?requestType=WADO",
        "Series",
    ],
)
async def test_ae_titles_cannot_steer_the_qido_path(web_peers: WebPeers, title):
    peer = await web_peers.start("dcm4chee", dcm4chee_titles, [title])
    observation = await _probe(peer)
    _assert_only_guarded_paths(peer, observation)
    assert "/dcm4chee-arc/aets" in peer.paths()
    assert not [p for p in peer.paths() if p.startswith("/dcm4chee-arc/aets/")]


async def test_a_plain_ae_title_is_still_asked(web_peers: WebPeers):
    """The control for the test above: a title with a space is escaped and asked."""
    peer = await web_peers.start("dcm4chee", dcm4chee_titles, ["MAIN ARCHIVE"])
    observation = await _probe(peer)
    _assert_only_guarded_paths(peer, observation)
    assert "/dcm4chee-arc/aets/MAIN%20ARCHIVE/rs/studies?limit=1" in peer.paths()


# --------------------------------------------------------------------------- the session


async def test_the_session_never_follows_a_redirect_even_when_asked_to(web_peers: WebPeers):
    """The scan's session itself refuses to follow, whatever a caller passes."""
    other = await web_peers.silent("other-port")
    peer = await web_peers.start("redirector", redirector, other.port)
    async with make_web_session(QUICK) as session:
        for path in ("/system", "/orthanc/system", "/dicom-web/studies?limit=1", "/wado"):
            with pytest.raises(UnsafePathError, match="redirect"):
                async with session.get(f"http://{HOST}:{peer.port}{path}"):
                    pass  # pragma: no cover - the request raises before a response
    assert other.connections == 0
    assert [p.partition("?")[0] for p in peer.paths()] == [
        "/system",
        "/orthanc/system",
        "/dicom-web/studies",
        "/wado",
    ]


@pytest.mark.parametrize(
    "path",
    ["/wado;x", "/studies%2F1", "/a/../wado", "//wado", "/DICOM-WEB/STUDIES/1", FRAMES],
)
async def test_the_session_refuses_an_unsafe_path_before_connecting(web_peers: WebPeers, path):
    other = await web_peers.silent("listener")
    async with make_web_session(QUICK) as session:
        url = aiohttp.client.URL(f"http://{HOST}:{other.port}{path}", encoded=True)
        with pytest.raises(UnsafePathError):
            async with session.get(url, allow_redirects=False):
                pass  # pragma: no cover
    assert other.connections == 0


async def test_the_session_sends_get_only_and_its_own_host(web_peers: WebPeers):
    other = await web_peers.silent("listener")
    async with make_web_session(QUICK) as session:
        url = f"http://{HOST}:{other.port}/system"
        with pytest.raises(UnsafePathError, match="GET"):
            async with session.post(url, allow_redirects=False):
                pass  # pragma: no cover
        with pytest.raises(UnsafePathError, match="Host"):
            async with session.get(url, allow_redirects=False, headers={"Host": "elsewhere"}):
                pass  # pragma: no cover
    assert other.connections == 0


async def test_a_request_is_sent_once_even_when_the_peer_hangs_up():
    """aiohttp sends an idempotent request again after a hang-up; the session does not:
    the peer sees exactly the requests the probe recorded (each one permitted)."""
    seen = {"connections": 0, "requests": 0}

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        if (await reader.read(4096)).startswith(b"GET "):
            seen["requests"] += 1
        writer.close()

    server = await asyncio.start_server(hang_up, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    permits = 0

    async def permit() -> None:
        nonlocal permits
        permits += 1

    try:
        async with make_web_session(QUICK) as session:
            observation = await probe_web(HOST, port, QUICK, session=session, permit=permit)
    finally:
        server.close()
        await server.wait_closed()
    # The plain-HTTP baseline reached the peer once; the HTTPS tries (the baseline, then
    # the certificate look) ended in the handshake, a hang-up there being the peer's
    # answer, not the scanner's failure. No connection the probe did not record and the
    # engine did not permit: a silent resend would be one more.
    assert seen["requests"] == 1
    assert seen["connections"] == len(observation.requests) == permits
    assert [r.purpose for r in observation.requests].count("baseline") == 2
    assert observation.status.value == "connection-closed"

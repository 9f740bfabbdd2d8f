"""Web peers unlike the known ones, and the real PixelMed web server.

Imitations, each written from the product's own source or documentation (the sources are
in ``exposcan/data/web_products.toml``), on 127.0.0.1:

- :func:`bare_status_routes`: a server that answers a path it does not serve with a bare
  status line and closes (no headers end, no body), as PixelMed's ``RequestHandler`` does;
- :func:`pixelmed_routes`: PixelMed's web server: its index page at ``/``, its patient
  list (``?requestType=PATIENTLIST``, synthetic rows), a bare 404 for anything else;
- :func:`nginx_wall_open_qido`: Basic authentication on every path except the DICOMweb
  root (``location /dicom-web/`` without ``auth_basic``), which lists synthetic studies;
  ``root="/dcm4chee-arc/aets/DCM4CHEE/rs"`` leaves dcm4chee-arc's default AE open instead;
- :func:`conquest_site`: a web server whose front page links Conquest's CGI
  ``/cgi-bin/dgate``, whose top page names the server and its version;
- :func:`horos_portal`: the Horos Web Portal's login page at ``/``;
- :func:`osirix_portal`: the OsiriX Web Portal asking for authentication with its realm;
- :func:`dicoogle_services`: Dicoogle 3.4's web app and the unauthenticated status of its
  DICOM services (which port each runs on), as its DicoogleWeb and ServicesServlet serve it.

:class:`RawPeers` runs the raw servers (bytes as written, then a close); aiohttp apps run
with :class:`tests.support.web_peers.WebPeers`. :func:`pixelmed_server` starts PixelMed's
``DicomAndWebStorageServer`` (Debian ``libpixelmed-java``) inside a network namespace that
holds only ``lo`` and loads synthetic studies into it with DCMTK's ``storescu`` (the test's
setup, not the scan).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exposcan.engine import Endpoint, endpoint_result
from exposcan.lab import free_port
from exposcan.probes.web import WebObservation
from exposcan.results import Verdict
from exposcan.vocabulary import Protocol
from tests.support.peers import STORESCU, _require, _run, _serve
from tests.support.synthetic import MARKER, make_studies
from tests.support.web_peers import (
    HOST,
    WEB_SYNTHETIC,
    Access,
    WebPeer,
    _qido_answer,
    _synthetic_study,
)

#: A raw route: the request path (with its query) to the bytes written before the close.
Routes = Callable[[str], bytes]

JAVA = Path("/usr/bin/java")
PIXELMED_JAR = Path("/usr/share/java/pixelmed.jar")
#: PixelMed's web classes log through SLF4J; its database is HSQLDB (Debian's jars).
PIXELMED_CLASSPATH = (
    PIXELMED_JAR,
    Path("/usr/share/java/slf4j-api.jar"),
    Path("/usr/share/java/slf4j-nop.jar"),
    Path("/usr/share/java/hsqldb.jar"),
)
PIXELMED_AET = "PIXELMEDWEB"


def _html_response(body: str, status: str = "200 OK") -> bytes:
    data = body.encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def bare_404(path: str) -> bytes:
    # PixelMed's words (RequestHandler): the status line, the path echoed, a close.
    return f'HTTP/1.1 404 Not Found - No such path is permitted ="{path}"\r\n'.encode()


def bare_status_routes(serve_root: bool = True) -> Routes:
    """A plain site at ``/`` (nothing DICOM), a bare 404 everywhere else (or everywhere)."""

    def route(path: str) -> bytes:
        if serve_root and path == "/":
            return _html_response("<html><head><title>Welcome</title></head><body>hi</body></html>")
        return bare_404(path.partition("?")[0])

    return route


def pixelmed_routes(patients: int) -> Routes:
    """PixelMed's RequestTypeServer: index page, patient list of synthetic rows, bare 404."""
    names = [f"{MARKER}^WEBPM{i:03d}" for i in range(1, patients + 1)]
    ids = [f"{MARKER}PM{i:04d}" for i in range(1, patients + 1)]
    WEB_SYNTHETIC.update(names + ids)
    index = (
        '<html><head><link rel="stylesheet" type="text/css" href="stylesheet.css"></head>\n'
        '<body>\n<p>\n<a href="?requestType=PATIENTLIST">Click me to show list of patients</a>'
        "\n</p>\n</body></html>\n"
    )
    rows = "".join(
        f'<tr><td><a href="?requestType=STUDYLIST&primaryKey={n}">{html.escape(pid)}</a></td>'
        f"<td>{html.escape(name)}</td></tr>\r\n"
        for n, (pid, name) in enumerate(zip(ids, names, strict=True), start=1)
    )
    listing = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        '<link rel="stylesheet" type="text/css" href="stylesheet.css"></head>\r\n'
        "<body><table>\r\n<tr><th>Patient's ID</th><th>Patient's Name</th></tr>\r\n"
        f"{rows}</table></body></html>\r\n"
    )

    def route(path: str) -> bytes:
        if path == "/":
            return _html_response(index)
        if path == "/?requestType=PATIENTLIST":
            return _html_response(listing)
        return bare_404(path.partition("?")[0])

    return route


class RawPeers:
    """Raw HTTP/1.1 servers on free loopback ports: one answer per connection, then a close."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []

    async def start(self, name: str, routes: Routes) -> WebPeer:
        peer = WebPeer(name=name, port=free_port(HOST))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer.connections += 1
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                method, _, rest = head.decode("latin-1").partition(" ")
                path = rest.split(" ", 1)[0]
                peer.log.append(Access(method, path, None, None, b"authorization:" in head.lower()))
                writer.write(routes(path))
                await writer.drain()
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                pass
            finally:
                writer.close()

        self._servers.append(await asyncio.start_server(handle, HOST, peer.port))
        return peer

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)


# --------------------------------------------------------------------------- aiohttp apps


def _basic_wall(realm: str) -> web.Response:
    return web.Response(
        status=401, headers={"WWW-Authenticate": f'Basic realm="{realm}"'}, text="401"
    )


def nginx_wall_open_qido(studies: int = 3, root: str = "/dicom-web") -> web.Application:
    """``location / { auth_basic "PACS"; }`` and ``location {root}/ { proxy_pass ...; }``."""
    app = web.Application()
    listed = [_synthetic_study(i) for i in range(studies)]

    async def search(request: web.Request) -> web.Response:
        return _qido_answer(request, listed)

    async def wall(request: web.Request) -> web.Response:
        return _basic_wall("PACS")

    app.router.add_get(f"{root}/studies", search)
    app.router.add_get("/{tail:.*}", wall)
    return app


def conquest_site(
    version: str = "1.5.0c",
    *,
    port: int = 5678,
    address: str = "127.0.0.1",
    patients: int | None = None,
    list_status: int = 200,
    exe: bool = False,
) -> web.Application:
    """Apache with Conquest's CGI: a front page linking it; dgate's top page (dgate.cpp),
    whose forms carry the server's DICOM ``port`` (dicom.ini TCPPort) and its ``address``
    (WebServerFor, 127.0.0.1 unless set) in hidden fields.

    ``patients``: ``mode=querypatients`` answers as dgate.cpp does without a query, that
    many synthetic patients, one row each linking its ``mode=querystudies`` page (without
    it, every mode answers the top page, as before); ``list_status`` another status for
    that mode alone (401: the web server guards the CGI's lists); ``exe``: the CGI is
    ``dgate.exe``, as on Windows. Every request is recorded in ``app[ASKED]``."""
    app = web.Application()
    asked: list[str] = []
    app[ASKED] = asked

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        asked.append(f"{request.method} {request.path_qs}")
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(record)
    cgi = "/cgi-bin/dgate.exe" if exe else "/cgi-bin/dgate"

    async def front(request: web.Request) -> web.Response:
        return web.Response(
            text=f'<html><body><a href="{cgi}">DICOM server</a></body></html>',
            content_type="text/html",
        )

    async def dgate(request: web.Request) -> web.Response:
        if patients is not None and request.query.get("mode") == "querypatients":
            if list_status != 200:
                return web.Response(status=list_status, text="Authorization Required")
            return web.Response(text=_dgate_patients(version, patients), content_type="text/html")
        return web.Response(
            text=(
                f"<HEAD><TITLE>Conquest DICOM server - version {version}</TITLE></HEAD>"
                "<BODY BGCOLOR='CFDFCF'><H1>Welcome to the Conquest DICOM server - version "
                f'{version}</H1><FORM ACTION="dgate"><INPUT NAME=mode    TYPE=HIDDEN '
                f"VALUE=querypatients><INPUT NAME=port    TYPE=HIDDEN VALUE={port}>"
                f"<INPUT NAME=address TYPE=HIDDEN VALUE={address}></FORM></BODY>"
            ),
            content_type="text/html",
        )

    app.router.add_get("/", front)
    app.router.add_get(cgi, dgate)
    return app


def _dgate_patients(version: str, count: int) -> str:
    """dgate.cpp's mode=querypatients without a query (its HTML and row format)."""
    rows = "".join(
        f"<TR><TD><A HREF=dgate?&mode=querystudies&key=&query=patientid+=+'{MARKER}{i:03d}'>"
        f"{MARKER}{i:03d}</A><TD>{MARKER}^PATIENT{i:03d}<TD>O<TD>19700101</TR>"
        for i in range(count)
    )
    return (
        f"<HEAD><TITLE>Conquest DICOM server - version {version}</TITLE></HEAD>"
        f"<BODY BGCOLOR='CFDFCF'><H2>Conquest DICOM server - version {version}</H2>"
        "<table RULES=ALL BORDER=1><Caption>List of all patients on local server</caption>"
        f"<TR><TD>Patient ID<TD>Name<TD>Sex<TD>Birth date</TR>{rows}</table></BODY>"
    )


def horos_portal() -> web.Application:
    """The Horos Web Portal's page at ``/`` (a login form; nothing behind it is asked)."""
    app = web.Application()

    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text=(
                "<html><head><title>Horos Web Portal</title></head><body><form action="
                '"/login" method="post"><input name="username"/><input type="password" '
                'name="password"/></form><p>Service provided by <a href="http://www.'
                'horosproject.org">Horos</a></p></body></html>'
            ),
            content_type="text/html",
        )

    app.router.add_get("/", index)
    return app


def osirix_portal() -> web.Application:
    """The OsiriX Web Portal with HTTP authentication on: its realm names it."""
    app = web.Application()

    async def wall(request: web.Request) -> web.Response:
        return _basic_wall("OsiriX Web Portal (127.0.0.1 - 01/02/2026)")

    app.router.add_get("/{tail:.*}", wall)
    return app


#: The requests an imitation was asked (method and path with query), in order.
ASKED = web.AppKey("asked", list[str])


def dicoogle_services(
    query_port: int,
    storage_port: int = 6666,
    *,
    storage_running: bool = False,
    indexed: int | None = None,
    ignore_psize: bool = False,
    search_status: int = 200,
    version: str = "3.4.1",
    search_answer: Any = None,
) -> web.Application:
    """Dicoogle 3.4 as bioinformatics-ua/dicoogle (c55f72c) serves it: its web app at
    ``/``, ``/ext/version`` (VersionResource), and the DICOM service status at
    ``/management/dicom/storage`` and ``/management/dicom/query`` without authentication
    (DicoogleWeb.java; ServicesServlet.java doGet: isRunning, port, autostart). Every
    request is recorded in ``app[ASKED]``; a write (PUT, POST) answers 500.

    ``indexed``: the search API too, over that many synthetic instances, as
    SearchServlet.doGet and writeResponse answer it (a Lucene query required; only the
    results inside ``offset``/``psize`` written, each with its uri and default fields;
    ``numResults`` the count of every match); ``ignore_psize`` writes every result
    anyway (a Dicoogle that did not honour the page); ``search_status`` another status
    for ``/search`` alone (401: a proxy guarding the API); ``version`` what
    ``/ext/version`` says; ``search_answer`` a JSON value ``/search`` answers instead
    (a hostile or broken peer)."""
    app = web.Application()
    asked: list[str] = []
    app[ASKED] = asked

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        asked.append(f"{request.method} {request.path_qs}")
        if request.method != "GET":
            return web.Response(status=500, text="tests must never write")
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(record)

    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><html><head><title>Dicoogle</title></head><body></body></html>",
            content_type="text/html",
        )

    async def ext_version(request: web.Request) -> web.Response:
        return web.json_response({"version": version})

    def service(running: bool, port: int) -> Any:
        async def status(request: web.Request) -> web.Response:
            return web.json_response({"isRunning": running, "port": port, "autostart": True})

        return status

    app.router.add_get("/", index)
    app.router.add_get("/ext/version", ext_version)
    app.router.add_route("*", "/management/dicom/storage", service(storage_running, storage_port))
    app.router.add_route("*", "/management/dicom/query", service(True, query_port))
    if indexed is not None:
        handler = _dicoogle_search(indexed, ignore_psize, search_status)
        if search_answer is not None:

            async def handler(request: web.Request) -> web.Response:
                return web.Response(text=json.dumps(search_answer), content_type="application/json")

        app.router.add_get("/search", handler)
    return app


def _dicoogle_search(indexed: int, ignore_psize: bool, status: int) -> Any:
    async def search(request: web.Request) -> web.Response:
        if status != 200:
            return web.json_response({"error": "Unauthorized"}, status=status)
        if not request.query.get("query"):
            return web.json_response({"results": [], "error": "No query supplied!"}, status=400)
        psize = int(request.query.get("psize", str(1 << 31)))
        offset = int(request.query.get("offset", "0"))
        page = range(indexed) if ignore_psize else range(offset, min(indexed, offset + psize))
        results = [
            {
                "uri": f"file:/var/dicoogle/{MARKER}-{i:04d}.dcm",
                "fields": {"PatientName": f"{MARKER}^PATIENT{i:03d}", "Modality": "CT"},
            }
            for i in page
        ]
        return web.json_response({"results": results, "elapsedTime": 3, "numResults": indexed})

    return search


def output_text(observation: WebObservation, verdict: Verdict) -> str:
    """Everything a scan of one web endpoint puts out: the observation, the verdict and the
    report row (as the engine builds it), for tests that look for synthetic values."""
    row = endpoint_result(Endpoint(HOST, observation.port, Protocol.HTTP), observation, verdict)
    return "\n".join(
        [
            repr(observation),
            json.dumps(asdict(observation), default=str),
            repr(verdict),
            json.dumps(row.to_dict(), default=str),
        ]
    )


# --------------------------------------------------------------------------- real PixelMed


@dataclass(frozen=True)
class PixelMedWeb:
    web_port: int
    dicom_port: int
    patients: int
    log: Path


def pixelmed_missing() -> list[str]:
    return [str(p) for p in (JAVA, *PIXELMED_CLASSPATH, STORESCU) if not p.exists()]


@contextlib.contextmanager
def pixelmed_server(workdir: Path, patients: int) -> Iterator[PixelMedWeb]:
    """PixelMed's DicomAndWebStorageServer in a namespace with only ``lo``, ``patients``
    synthetic patients stored into it by ``storescu`` (one study each)."""
    _require(JAVA, *PIXELMED_CLASSPATH, STORESCU)
    images = workdir / "images"
    images.mkdir(exist_ok=True)
    properties = workdir / "server.properties"

    def command(ports: list[int]) -> list[str]:
        dicom_port, web_port = ports
        properties.write_text(
            f"Dicom.ListeningPort={dicom_port}\nDicom.CalledAETitle={PIXELMED_AET}\n"
            f"WebServer.ListeningPort={web_port}\nWebServer.NumberOfWorkers=2\n"
            f"Application.SavedImagesFolderName={images}\n",
            encoding="utf-8",
        )
        classpath = ":".join(str(p) for p in PIXELMED_CLASSPATH)
        # user.home and the working directory are the workdir: PixelMed keeps its
        # database files there (.com.pixelmed.display.DicomImageViewer.database.*).
        return [
            str(JAVA),
            f"-Duser.home={workdir}",
            "-cp",
            classpath,
            "com.pixelmed.server.DicomAndWebStorageServer",
            str(properties),
        ]

    with _serve("pixelmed_web", workdir, 2, command) as running:
        dicom_port, web_port = running.ports
        if patients:
            files = make_studies(patients, 1, workdir / "data")
            _run(
                [str(STORESCU), "-aec", PIXELMED_AET, HOST, str(dicom_port), *map(str, files)],
                "pixelmed_web: loading studies",
            )
            _await_patients(web_port, patients)
        yield PixelMedWeb(web_port, dicom_port, patients, workdir / "server.log")


def _await_patients(port: int, patients: int, timeout: float = 10.0) -> None:
    """PixelMed indexes what it received in the background: wait until the list has it."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        with opener.open(f"http://{HOST}:{port}/?requestType=PATIENTLIST", timeout=5) as answer:
            seen = answer.read().count(b"?requestType=STUDYLIST&primaryKey=")
        if seen >= patients:
            return
        time.sleep(0.2)
    pytest.fail(f"PixelMed listed {seen} of {patients} stored patients after {timeout:.0f} s")


__all__ = [
    "PIXELMED_AET",
    "PixelMedWeb",
    "RawPeers",
    "bare_404",
    "bare_status_routes",
    "conquest_site",
    "horos_portal",
    "nginx_wall_open_qido",
    "osirix_portal",
    "output_text",
    "pixelmed_missing",
    "pixelmed_routes",
    "pixelmed_server",
]

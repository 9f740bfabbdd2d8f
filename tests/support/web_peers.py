"""Web peers for tests: aiohttp servers on 127.0.0.1 that imitate PACS web front ends.

Each server listens on a free loopback port, records every request it receives (its access
log) and is stopped by the fixture that started it, whatever the test did. Imitations:

- :func:`dcm4chee_arc`: dcm4chee-arc-light's AE listing (``/dcm4chee-arc/aets``), its QIDO-RS
  path ``/dcm4chee-arc/aets/{AET}/rs/studies`` answering ``application/dicom+json`` with
  synthetic patients (names carry :data:`MARKER`), and its UI at ``/dcm4chee-arc/ui2/``;
- :func:`ohif_shell`: an OHIF Viewer deployment that answers 200 with its index page for
  every path (``try_files $uri /index.html``), its ``app-config.js`` pointing at a DICOMweb
  server on another origin;
- :func:`login_redirect`: a Keycloak-secured front end redirecting everything to a login
  page (the redirect's query carries :data:`MARKER`, which must not reach any output);
- :func:`endless_body`: 200 and a body that never ends;
- :func:`orthanc_default_password`: an Orthanc-like HTTP server with Basic authentication,
  realm "Orthanc Secure Area", that accepts its documented default ``orthanc:orthanc``;
- :func:`wado_uri_only`: a WADO-URI service at ``/wado`` that asks for ``requestType``;
- :func:`dicomweb_json_everywhere`: a server answering ``[]`` as DICOM JSON to every path;
- :func:`dicomweb_plain`: Orthanc-style QIDO-RS at ``/dicom-web`` (served over TLS in tests);
- :func:`kheops`: Kheops' UI, its DICOMweb API at ``/api`` asking for a Bearer token;
- :func:`dicoogle`: Dicoogle's UI and ``/ext/version`` (its form login is never posted);
- :func:`orthanc_behind_proxy`: Orthanc under ``/orthanc/`` (the Orthanc Book's nginx recipe),
  OHIF-free 404 everywhere else, with the DICOMweb plugin's metadata and QIDO-RS;
- :func:`router_basic_auth`: Basic authentication in front of every path, nothing DICOM;
- :func:`wado_forbidden`: 404 everywhere, 403 for ``/wado`` only;
- :func:`dicomweb_guarded`: 404 everywhere, 401 (Bearer) for ``/dicom-web/`` only;
- :meth:`WebPeers.silent`: a raw TCP listener that reads and never answers;
- :class:`ConnectionCounter`: keep-alive HTTP listeners on several ports that count the
  connections open at once across all of them.

:data:`RETRIEVAL` recognises image, frame, rendered, thumbnail, bulk-data, instance-file,
archive, media and WADO retrieval requests independently of the probe's own guard; tests
assert that no access log ever matches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import selectors
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydicom.uid import generate_uid

from exposcan.lab import free_port
from tests.support.synthetic import MARKER

HOST = "127.0.0.1"

#: Every identifying value the imitations hand out (names, IDs, UIDs, the login state).
WEB_SYNTHETIC: set[str] = {MARKER}

#: Requests that would retrieve pixel data or files (PS3.18 WADO-RS/WADO-URI resources, and
#: Orthanc's and Dicoogle's downloads). Written apart from exposcan.probes.web on purpose.
RETRIEVAL = re.compile(
    r"/(?:frames|rendered|thumbnail|bulkdata|pixeldata|file|archive|media|preview|dic2png)"
    r"(?:/[^/?]*)?(?:\?|$)"
    r"|/(?:series|instances)(?:[/?]|$)"
    r"|/studies/[^?]"
    r"|(?i:requesttype=)"
    r"|[?&](?i:studyuid|seriesuid|objectuid)="
)


@dataclass(frozen=True)
class Access:
    method: str
    path: str  # raw path and query
    accept: str | None
    user_agent: str | None
    authorization: bool


@dataclass
class WebPeer:
    name: str
    port: int
    scheme: str = "http"
    host: str = HOST
    log: list[Access] = field(default_factory=list)
    #: raw listeners: connections accepted and bytes received
    connections: int = 0
    received: bytearray = field(default_factory=bytearray)
    #: bytes the server wrote in bodies (the endless server counts them)
    sent: int = 0

    def paths(self) -> list[str]:
        return [a.path for a in self.log]

    def retrievals(self) -> list[str]:
        """Requests that asked for images, frames, files or WADO retrievals (must be none)."""
        return [a.path for a in self.log if RETRIEVAL.search(a.path)]


def _html(title: str, extra: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title>{extra}</head><body><div id='root'></div></body></html>"
    )


def _synthetic_study(index: int) -> dict[str, Any]:
    """One QIDO-RS study in the DICOM JSON model (PS3.18 Annex F), invented values."""
    name = f"{MARKER}^WEBPATIENT{index:03d}"
    patient_id = f"{MARKER}W{index:05d}"
    accession = f"{MARKER}WA{index:04d}"
    study_uid = generate_uid()
    WEB_SYNTHETIC.update({name, name.replace("^", " "), patient_id, accession, study_uid})
    return {
        "00080020": {"vr": "DA", "Value": ["20200101"]},
        "00080050": {"vr": "SH", "Value": [accession]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": name}]},
        "00100020": {"vr": "LO", "Value": [patient_id]},
        "0020000D": {"vr": "UI", "Value": [study_uid]},
    }


def _qido_answer(request: web.Request, studies: list[dict[str, Any]]) -> web.Response:
    try:
        limit = int(request.query.get("limit", len(studies)))
    except ValueError:
        limit = len(studies)
    return web.Response(
        body=json.dumps(studies[: max(limit, 0)]).encode(),
        content_type="application/dicom+json",
    )


# --------------------------------------------------------------------------- imitations


def dcm4chee_arc(studies: int = 2) -> web.Application:
    """dcm4chee-arc-light 5.x, unsecured (its default docker image): AE listing, QIDO-RS."""
    listing = [_synthetic_study(i) for i in range(1, studies + 1)]
    app = web.Application()

    async def aets(request: web.Request) -> web.Response:
        return web.json_response(
            [
                {"dicomAETitle": "DCM4CHEE", "dicomDescription": "Hide rejected instances"},
                {"dicomAETitle": "IOCM_REGULAR_USE"},
            ]
        )

    async def search(request: web.Request) -> web.Response:
        if request.match_info["aet"] not in ("DCM4CHEE", "IOCM_REGULAR_USE"):
            raise web.HTTPNotFound()
        return _qido_answer(request, listing)

    async def ui(request: web.Request) -> web.Response:
        return web.Response(
            text=_html("dcm4chee-arc-ui", "<base href='/dcm4chee-arc/ui2/'>"),
            content_type="text/html",
        )

    app.router.add_get("/dcm4chee-arc/aets", aets)
    app.router.add_get("/dcm4chee-arc/aets/{aet}/rs/studies", search)
    app.router.add_get("/dcm4chee-arc/ui2/", ui)
    return app


OHIF_INDEX = _html(
    "OHIF Viewer",
    "<meta name='application-name' content='OHIF Viewer'><script src='/app-config.js'></script>",
)
OHIF_CONFIG = """window.config = {
  routerBasename: '/',
  dataSources: [{
    namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
    sourceName: 'dicomweb',
    configuration: {
      friendlyName: 'remote PACS',
      wadoUriRoot: 'https://pacs.example.org/wado',
      qidoRoot: 'https://pacs.example.org/dicom-web',
      wadoRoot: 'https://pacs.example.org/dicom-web',
    },
  }],
};
"""


def ohif_shell() -> web.Application:
    """OHIF behind a server that answers every unknown path with index.html (200)."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        if request.path == "/app-config.js":
            return web.Response(text=OHIF_CONFIG, content_type="application/javascript")
        return web.Response(text=OHIF_INDEX, content_type="text/html")

    app.router.add_get("/{tail:.*}", anything)
    return app


LOGIN_STATE = f"{MARKER}-state-4711"
WEB_SYNTHETIC.add(LOGIN_STATE)


def login_redirect() -> web.Application:
    """Everything redirects to a Keycloak login for the dcm4che realm (secured archive)."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        if request.path.startswith("/auth/"):
            return web.Response(text=_html("Sign in"), content_type="text/html")
        raise web.HTTPFound(
            "/auth/realms/dcm4che/protocol/openid-connect/auth"
            f"?client_id=dcm4chee-arc-ui&state={LOGIN_STATE}&login_hint={MARKER}%5EPATIENT"
        )

    app.router.add_get("/{tail:.*}", anything)
    return app


def endless_body(peer_ref: list[WebPeer]) -> web.Application:
    """200 and a body that never ends (the server stops after 64 MiB, to stay bounded)."""
    app = web.Application()
    chunk = b"<p>" + b"x" * (64 * 1024 - 3)

    async def anything(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, RuntimeError):
            for _ in range(1024):
                await response.write(chunk)
                peer_ref[0].sent += len(chunk)
        return response

    app.router.add_get("/{tail:.*}", anything)
    return app


ORTHANC_REALM = 'Basic realm="Orthanc Secure Area"'


def orthanc_default_password(studies: int = 5) -> web.Application:
    """An Orthanc-like server whose only user is the documented default orthanc:orthanc."""
    app = web.Application()
    expected = "Basic b3J0aGFuYzpvcnRoYW5j"  # base64("orthanc:orthanc")

    @web.middleware
    async def basic(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": ORTHANC_REALM})
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(basic)

    async def system(request: web.Request) -> web.Response:
        return web.json_response(
            {"Name": "imitation", "Version": "1.12.4", "ApiVersion": 24, "DicomAet": "ORTHANC"}
        )

    async def statistics(request: web.Request) -> web.Response:
        return web.json_response({"CountStudies": studies, "CountPatients": studies})

    app.router.add_get("/system", system)
    app.router.add_get("/statistics", statistics)
    return app


def wado_uri_only() -> web.Application:
    """A WADO-URI service (PS3.18 chapter 9) at /wado; everything else 404."""
    app = web.Application()

    async def wado(request: web.Request) -> web.Response:
        if "requestType" not in request.query:
            return web.Response(status=400, text="Missing required parameter: requestType")
        return web.Response(status=500, text="tests must never get here")

    app.router.add_get("/wado", wado)
    return app


def dicomweb_json_everywhere() -> web.Application:
    """Answers ``[]`` as DICOM JSON for every path: nothing here is a proven QIDO service."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        return web.Response(body=b"[]", content_type="application/dicom+json")

    app.router.add_get("/{tail:.*}", anything)
    return app


def dicomweb_plain(studies: int = 2) -> web.Application:
    """QIDO-RS at Orthanc's default root /dicom-web (no product identity elsewhere)."""
    listing = [_synthetic_study(100 + i) for i in range(studies)]
    app = web.Application()

    async def search(request: web.Request) -> web.Response:
        return _qido_answer(request, listing)

    app.router.add_get("/dicom-web/studies", search)
    return app


KHEOPS_INDEX = _html("KHEOPS", "<script src='/main.js'></script>")


def kheops() -> web.Application:
    """Kheops: its UI at ``/``; its DICOMweb API at ``/api`` wants an album or user token."""
    app = web.Application()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=KHEOPS_INDEX, content_type="text/html")

    async def api(request: web.Request) -> web.Response:
        return web.Response(
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="kheops"'},
            text='{"error": "Unauthorized"}',
            content_type="application/json",
        )

    app.router.add_get("/", index)
    app.router.add_get("/api/{tail:.*}", api)
    return app


def dicoogle(version: str = "3.4.0") -> web.Application:
    """Dicoogle 3: its web app at ``/`` (a login form of its own), ``/ext/version``; the
    login servlet takes a POST only, which the probe never sends (500 if it did)."""
    app = web.Application()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=_html("Dicoogle"), content_type="text/html")

    async def ext_version(request: web.Request) -> web.Response:
        return web.json_response({"version": version})

    async def login(request: web.Request) -> web.Response:
        return web.Response(status=500, text="tests must never get here")

    app.router.add_get("/", index)
    app.router.add_get("/ext/version", ext_version)
    app.router.add_route("*", "/login", login)
    return app


def orthanc_behind_proxy(studies: int = 4, prefix: str = "/orthanc") -> web.Application:
    """nginx in front of Orthanc as the Orthanc Book shows it: ``location /orthanc/``
    proxies to Orthanc, everything else is nginx's 404. Orthanc 1.12 with its DICOMweb
    plugin, remote access on, authentication off."""
    listing = [_synthetic_study(200 + i) for i in range(studies)]
    app = web.Application()

    async def root(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"{prefix}/app/explorer.html")

    async def system(request: web.Request) -> web.Response:
        return web.json_response(
            {"Name": "behind-nginx", "Version": "1.12.1", "ApiVersion": 22, "DicomAet": "ORTHANC"}
        )

    async def statistics(request: web.Request) -> web.Response:
        return web.json_response({"CountStudies": studies, "CountInstances": studies})

    async def plugin(request: web.Request) -> web.Response:
        return web.json_response({"ID": "dicom-web", "Version": "1.13", "Description": "DICOMweb"})

    async def search(request: web.Request) -> web.Response:
        return _qido_answer(request, listing)

    app.router.add_get(f"{prefix}/", root)
    app.router.add_get(f"{prefix}/system", system)
    app.router.add_get(f"{prefix}/statistics", statistics)
    app.router.add_get(f"{prefix}/plugins/dicom-web", plugin)
    app.router.add_get(f"{prefix}/dicom-web/studies", search)
    return app


def router_basic_auth() -> web.Application:
    """A home router's admin page: Basic authentication in front of every path."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        return web.Response(
            status=401, headers={"WWW-Authenticate": 'Basic realm="Router admin"'}, text="401"
        )

    app.router.add_get("/{tail:.*}", anything)
    return app


def wado_forbidden() -> web.Application:
    """404 for everything but ``/wado``, which is refused (403): no DICOM service shows."""
    app = web.Application()

    async def wado(request: web.Request) -> web.Response:
        return web.Response(status=403, text="Forbidden")

    app.router.add_get("/wado", wado)
    return app


def dicomweb_guarded() -> web.Application:
    """A reverse proxy that asks for a token on ``/dicom-web/`` only; 404 elsewhere."""
    app = web.Application()

    async def guarded(request: web.Request) -> web.Response:
        return web.Response(
            status=401, headers={"WWW-Authenticate": 'Bearer realm="dicomweb"'}, text="401"
        )

    app.router.add_get("/dicom-web/{tail:.*}", guarded)
    return app


class ConnectionCounter:
    """HTTP/1.1 listeners on ``count`` loopback ports, served by one thread, that keep every
    connection alive (``404``, ``Content-Length: 0``) and record the most connections open
    at once across all ports.

    The count is taken when a request arrives, after dropping connections whose peer has
    closed (a ``MSG_PEEK`` that reads end-of-file): a client that closes one connection
    before it writes on the next is never counted twice. Bounded: at most
    :attr:`MAX_CONNECTIONS` connections are accepted; the rest are closed at once.
    """

    MAX_CONNECTIONS = 256
    _ANSWER = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n"

    def __init__(self, count: int = 2) -> None:
        self.accepted = 0
        self.max_open = 0
        self.requests: list[tuple[int, str]] = []
        self._selector = selectors.DefaultSelector()
        self._open: dict[socket.socket, tuple[int, bytearray]] = {}
        self._listeners: list[socket.socket] = []
        self._stop = threading.Event()
        self.ports: list[int] = []
        for _ in range(count):
            server = socket.socket()
            server.bind((HOST, 0))
            server.listen(64)
            server.setblocking(False)
            self._selector.register(server, selectors.EVENT_READ, "listen")
            self._listeners.append(server)
            self.ports.append(server.getsockname()[1])
        self._thread = threading.Thread(target=self._run, name="connection-counter", daemon=True)
        self._thread.start()

    def _drop(self, conn: socket.socket) -> None:
        self._open.pop(conn, None)
        with contextlib.suppress(Exception):
            self._selector.unregister(conn)
        conn.close()

    def _still_open(self) -> int:
        for conn in list(self._open):
            try:
                if conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    self._drop(conn)
            except BlockingIOError:
                pass  # open, nothing pending
            except OSError:
                self._drop(conn)
        return len(self._open)

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data == "listen":
                    with contextlib.suppress(BlockingIOError):
                        conn, _ = sock.accept()
                        self.accepted += 1
                        if self.accepted > self.MAX_CONNECTIONS:
                            conn.close()
                            continue
                        conn.setblocking(False)
                        self._open[conn] = (sock.getsockname()[1], bytearray())
                        self._selector.register(conn, selectors.EVENT_READ, "conn")
                    continue
                self._serve(sock)

    def _serve(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data or conn not in self._open:
            self._drop(conn)
            return
        port, buffer = self._open[conn]
        buffer.extend(data[: max(0, 65536 - len(buffer))])
        while b"\r\n\r\n" in buffer:
            head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
            buffer[:] = rest
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            self.requests.append((port, line))
            self.max_open = max(self.max_open, self._still_open())
            with contextlib.suppress(OSError):
                conn.sendall(self._ANSWER)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in list(self._open):
            self._drop(conn)
        for server in self._listeners:
            server.close()
        self._selector.close()


@pytest.fixture
def connection_counter() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter(2)
    try:
        yield counter
    finally:
        counter.close()


# --------------------------------------------------------------------------- fixtures


class WebPeers:
    """Starts servers on free loopback ports; :meth:`close` stops every one of them."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(
        self,
        name: str,
        app_factory: Callable[..., web.Application],
        *args: Any,
        tls: ssl.SSLContext | None = None,
    ) -> WebPeer:
        peer = WebPeer(name=name, port=0, scheme="https" if tls else "http")
        # The endless server counts what it sent on its peer.
        app = app_factory([peer], *args) if app_factory is endless_body else app_factory(*args)

        @web.middleware
        async def access_log(request: web.Request, handler: Any) -> web.StreamResponse:
            peer.log.append(
                Access(
                    method=request.method,
                    path=request.raw_path,
                    accept=request.headers.get("Accept"),
                    user_agent=request.headers.get("User-Agent"),
                    authorization="Authorization" in request.headers,
                )
            )
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.insert(0, access_log)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runners.append(runner)
        for attempt in range(5):
            peer.port = free_port(HOST)
            site = web.TCPSite(runner, HOST, peer.port, ssl_context=tls)
            try:
                await site.start()
                break
            except OSError:
                if attempt == 4:
                    raise
        return peer

    async def silent(self, name: str = "silent") -> WebPeer:
        """Accepts, reads whatever comes, never answers."""
        peer = WebPeer(name=name, port=free_port(HOST))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            peer.connections += 1
            try:
                while data := await reader.read(4096):
                    peer.received.extend(data[: max(0, 65536 - len(peer.received))])
                    for line in data.split(b"\r\n"):
                        if line.startswith(b"GET "):
                            path = line.split(b" ")[1].decode("latin-1")
                            peer.log.append(Access("GET", path, None, None, False))
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
                self._tasks.discard(task)

        self._servers.append(await asyncio.start_server(handle, HOST, peer.port))
        return peer

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def web_peers() -> AsyncIterator[WebPeers]:
    peers = WebPeers()
    try:
        yield peers
    finally:
        await peers.close()


@dataclass(frozen=True)
class TlsMaterial:
    cert: Path
    key: Path
    subject: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def web_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """A throwaway self-signed certificate (EC P-256, 2 days) made with ``openssl req``."""
    workdir = tmp_path_factory.mktemp("web_tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    started = time.monotonic()
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=exposcan-web-test",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.fail("openssl missing: apt-get install openssl")
    assert time.monotonic() - started < 30
    return TlsMaterial(cert=cert, key=key, subject="CN=exposcan-web-test")


@pytest.fixture
def tls_client_cert_server(web_tls: TlsMaterial) -> Iterator[WebPeer]:
    """``openssl s_server -Verify 1``: TLS that requires a client certificate (and, as
    OpenSSL does, rejects its absence with a TLS 1.3 certificate_required alert)."""
    port = free_port(HOST)
    proc = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"{HOST}:{port}",
            "-cert",
            str(web_tls.cert),
            "-key",
            str(web_tls.key),
            "-Verify",
            "1",
            "-www",
            "-quiet",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"openssl s_server did not listen on {port}")
            time.sleep(0.05)
        yield WebPeer(name="s_server", port=port, scheme="https")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _listening(port: int) -> bool:
    """Is anything listening on ``port`` (read from /proc, without connecting to it)?"""
    wanted = f"{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        local, state = fields[1], fields[3]
        if local.endswith(":" + wanted) and state == "0A":  # 0A: LISTEN
            return True
    return False

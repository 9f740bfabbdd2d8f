"""Real DICOM peers on 127.0.0.1 for tests: Orthanc, dcmqrscp and storescp (plain and TLS).

None of these servers can be told which address to bind: each listens on 0.0.0.0. So each
fixture (module scope) runs its server in a network namespace of its own that holds only
``lo`` (``tests/support/netns.py``), and a forwarder makes the server's ports reachable on 127.0.0.1
of the test's namespace under the same port numbers; nothing else of the machine can reach
it. The fixture waits until the server listens inside its namespace (read from the
namespace's own socket table, never a probe connection: some servers exit when a connection
closes before an A-ASSOCIATE-RQ), checks that nothing the suite started listens beyond
loopback here, loads synthetic studies where it stores data, yields a :class:`Peer`, and at
teardown stops the server's whole process group (SIGTERM, bounded wait, SIGKILL), then the
forwarder, then deletes the namespace. A missing binary fails the test with the ``apt-get``
line that installs it.

``Peer.expected`` records what a stranger observes, checked by ``tests/peers/test_peers_smoke.py``
with DCMTK's own clients. Common keys:

``exposure``
    the level a scan of ``port`` should report (``none`` < ``protected`` < ``echo`` <
    ``store`` < ``query``; shared/DESIGN.md).
``ae_title``
    a called AE title that gets a stranger in (``None``: none does).
``called_ae_checked``
    whether a wrong called AE title (:data:`STRANGER_AE`) is rejected.
``stranger``
    what a stranger (calling AE not known to the peer, called :data:`STRANGER_AE` or the
    peer's title) sees: ``association`` ("accepted" or a rejection dict with the A-ASSOCIATE-RJ
    ``result``/``source``/``reason`` numbers of PS3.8), ``echo``, ``contexts`` (presentation
    contexts accepted / rejected, with the rejection result), ``find`` ("matches", "aborted",
    "no-context" or ``None``) and ``matches`` (study-level C-FIND matches, ``None`` = no answer).
``fingerprint``
    implementation class UID and version name from the A-ASSOCIATE-AC.

tests/conftest.py loads this module as a plugin (``pytest_plugins``), so its fixtures are
found by name; :class:`Peer`, :data:`HOST` and :data:`STRANGER_AE` are imported by name.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from tests.support import netns
from tests.support.synthetic import make_studies

HOST = "127.0.0.1"
#: A called AE title a stranger would try; no fixture configures it.
STRANGER_AE = "ANY-SCP"

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
# Absolute paths: a pyenv shim named ``storescp`` shadows DCMTK's on PATH.
DCMQRSCP = Path("/usr/bin/dcmqrscp")
STORESCP = Path("/usr/bin/storescp")
STORESCU = Path("/usr/bin/storescu")
#: DCMTK's shipped sample configuration for dcmqrscp (Debian package ``dcmtk``).
DCMQRSCP_SAMPLE = Path("/etc/dcmtk/dcmqrscp.cfg")
INSTALL_HINT = "apt-get install orthanc orthanc-dicomweb dcmtk"

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0
START_ATTEMPTS = 3
POLL_S = 0.05
STUDIES = 3

#: Debian's DCMTK 3.6.7 answers with its own identity; Orthanc 1.10 is built on it and sends
#: the same implementation class UID and version name (it cannot be told apart this way).
DCMTK_FINGERPRINT = MappingProxyType(
    {
        "implementation_class_uid": "1.2.276.0.7230010.3.0.3.6.7",
        "implementation_version_name": "OFFIS_DCMTK_367",
    }
)

# A-ASSOCIATE-RJ values (PS3.8 9.3.4): result 1 = rejected-permanent, source 1 = service-user.
REJECT_CALLED_AE = MappingProxyType(
    {"result": 1, "source": 1, "reason": 7, "text": "called AE title not recognized"}
)
REJECT_CALLING_AE = MappingProxyType(
    {"result": 1, "source": 1, "reason": 3, "text": "calling AE title not recognized"}
)


@dataclass(frozen=True, kw_only=True)
class Peer:
    """One running server. ``port`` is where it is reached on ``host`` (the forwarder into its
    namespace, where the server listens on the same port number); ``tls_port`` equals
    ``port`` when that listener speaks DICOM over TLS (storescp has one listener, TLS or
    not)."""

    name: str
    host: str = HOST
    port: int
    ae_title: str
    tls_port: int | None = None
    http_port: int | None = None
    expected: Mapping[str, Any] = field(default_factory=dict)
    studies: int = 0
    #: the synthetic files loaded into the peer (``tests/support/synthetic.py``)
    files: tuple[Path, ...] = ()
    #: named files: ``workdir``, ``config``, ``log``, and for TLS ``server_cert``,
    #: ``client_cert``, ``client_key``
    paths: Mapping[str, Path] = field(default_factory=dict)
    #: seconds from the first spawn to listening (data loading excluded)
    startup_s: float = 0.0
    load_s: float = 0.0
    #: the network namespace the server runs in, and the server's pid (its process group)
    netns: str = ""
    pid: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "expected", MappingProxyType(dict(self.expected)))
        object.__setattr__(self, "paths", MappingProxyType(dict(self.paths)))

    def log(self, limit: int = 8000) -> str:
        """The tail of the server's log, for assertion messages."""
        path = self.paths.get("log")
        if path is None or not path.exists():
            return ""
        return path.read_text("utf-8", "replace")[-limit:]


# --------------------------------------------------------------------------- processes


def _require(*paths: Path | str) -> None:
    missing = [str(p) for p in paths if not (Path(p).is_file() and os.access(p, os.R_OK))]
    if missing:
        pytest.fail(f"missing: {', '.join(missing)}; install with: {INSTALL_HINT}")


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        pytest.fail(f"{name} missing: apt-get install {package}")
    return path


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc`` and everything it forked (its own session): TERM, wait, KILL, wait."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None and not _group_alive(proc.pid):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)  # forked children (dcmqrscp) of a group already signalled
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)


def _tail(path: Path, limit: int = 4000) -> str:
    return path.read_text("utf-8", "replace")[-limit:] if path.exists() else ""


@dataclass(frozen=True)
class Running:
    """A started server: its ports on 127.0.0.1 (forwarded into its namespace)."""

    ports: list[int]
    startup_s: float
    netns: str
    pid: int


@contextlib.contextmanager
def _serve(
    name: str,
    workdir: Path,
    n_ports: int,
    command: Callable[[list[int]], list[str]],
) -> Iterator[Running]:
    """Start ``command(ports)`` in a fresh namespace until it listens on all of them.

    The ports are free inside the namespace (it is empty) and held by the forwarder here,
    so no other process can take them. Retries when the server exits before listening.
    Yields the running server; always stops it, the forwarder and the namespace.
    """
    log_path = workdir / "server.log"
    started = time.monotonic()
    with netns.isolated(n_ports, workdir / "forward.log") as box:
        ports = box.ports
        for attempt in range(1, START_ATTEMPTS + 1):
            argv = box.argv(command(ports))
            with log_path.open("ab") as log:
                log.write(f"--- attempt {attempt}: {' '.join(argv)}\n".encode())
                log.flush()
                proc = subprocess.Popen(
                    argv,
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                deadline = time.monotonic() + READY_TIMEOUT_S
                ready = False
                while proc.poll() is None and time.monotonic() < deadline:
                    if all(box.listening(port) for port in ports):
                        ready = True
                        break
                    time.sleep(POLL_S)
                if ready:
                    netns.assert_no_exposed_listeners(f"{name} started")
                    yield Running(ports, time.monotonic() - started, box.namespace.name, proc.pid)
                    return
                if proc.poll() is None:
                    pytest.fail(
                        f"{name} not listening on {ports} after {READY_TIMEOUT_S:.0f} s:\n"
                        f"{_tail(log_path)}"
                    )
            finally:
                _stop(proc)
        pytest.fail(f"{name} did not start in {START_ATTEMPTS} attempts:\n{_tail(log_path)}")


# --------------------------------------------------------------------------- helpers


def _opener() -> urllib.request.OpenerDirector:
    # No proxies: every request goes straight to 127.0.0.1.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(
    port: int,
    path: str,
    *,
    data: bytes | None = None,
    auth: tuple[str, str] | None = None,
) -> Any:
    request = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/dicom"} if data is not None else {},
    )
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with _opener().open(request, timeout=COMMAND_TIMEOUT_S) as response:
        return json.loads(response.read())


def _run(argv: list[str], what: str) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: timed out after {COMMAND_TIMEOUT_S:.0f} s: {' '.join(argv)}")
    if done.returncode != 0:
        pytest.fail(f"{what}: exit {done.returncode}: {' '.join(argv)}\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def _workdir(factory: pytest.TempPathFactory, name: str) -> Path:
    return factory.mktemp(name, numbered=True)


# --------------------------------------------------------------------------- Orthanc


#: Web variants of the Orthanc fixture (``web=``): remote access on, so that a stranger's
#: view is what the HTTP server decides, not the loopback exemption. ``open``: authentication
#: explicitly off; ``users``: on, with one registered user (a random password); ``default-user``:
#: on with no RegisteredUsers, so Orthanc (>= 1.5.8, main.cpp) registers orthanc/orthanc and
#: logs that the setup is insecure. Each runs with ``--verbose-http``: Orthanc logs
#: ``(http) GET /path`` for every request it serves (the query and refused requests are not
#: logged), which tests read as its access log.
WEB_VARIANTS = ("open", "users", "default-user")
ORTHANC_DEFAULT_USER = ("orthanc", "orthanc")


def _orthanc(
    factory: pytest.TempPathFactory,
    name: str,
    *,
    always_find: bool,
    guarded: bool,
    web: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[Peer]:
    """``overrides``: configuration keys set after the variant's (a fixture that passes
    them writes its own ``Peer.expected``: the one built here describes the variant)."""
    _require(ORTHANC, DICOMWEB_PLUGIN)
    if web is not None and (web not in WEB_VARIANTS or guarded):
        raise ValueError(f"web variant {web!r} (of {WEB_VARIANTS}, not guarded)")
    workdir = _workdir(factory, name)
    storage = workdir / "storage"
    storage.mkdir()
    config = workdir / "orthanc.json"
    user, password = "exposcan", secrets.token_urlsafe(12)
    auth = (user, password) if guarded or web == "users" else None
    if web == "default-user":
        auth = ORTHANC_DEFAULT_USER

    def command(ports: list[int]) -> list[str]:
        dicom_port, http_port = ports
        settings: dict[str, Any] = {
            "Name": f"exposcan-{name}",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "DicomServerEnabled": True,
            "DicomAet": "ORTHANC",
            "DicomPort": dicom_port,
            "HttpServerEnabled": True,
            "HttpPort": http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": guarded,
            "RegisteredUsers": {user: password} if guarded else {},
            "DicomCheckCalledAet": guarded,
            "DicomAlwaysAllowEcho": not guarded,
            "DicomAlwaysAllowStore": not guarded,
            "DicomAlwaysAllowFind": always_find,
            "DicomAlwaysAllowFindWorklist": False,
            "DicomAlwaysAllowGet": False,
            "DicomAlwaysAllowMove": False,
            "DicomCheckModalityHost": False,
            # One known peer that is not us (never contacted: nothing here sends to it).
            "DicomModalities": {"knownpacs": ["KNOWNPACS", HOST, 104]} if guarded else {},
            "OrthancPeers": {},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "SaveJobs": False,
        }
        if web is not None:
            settings["RemoteAccessAllowed"] = True
            settings["AuthenticationEnabled"] = web != "open"
            settings["RegisteredUsers"] = {user: password} if web == "users" else {}
        settings.update(overrides or {})
        config.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        if web is not None:
            return [str(ORTHANC), "--verbose-http", str(config)]
        return [str(ORTHANC), str(config)]

    with _serve(name, workdir, 2, command) as running:
        dicom_port, http_port = running.ports
        started = time.monotonic()
        files = tuple(make_studies(STUDIES, 1, workdir / "data"))
        for path in files:
            answer = _http(http_port, "/instances", data=path.read_bytes(), auth=auth)
            if answer.get("Status") not in {"Success", "AlreadyStored"}:
                pytest.fail(f"{name}: POST /instances {path.name}: {answer}")
        stored = _http(http_port, "/studies", auth=auth)
        if len(stored) != STUDIES:
            pytest.fail(f"{name}: {len(stored)} studies stored, expected {STUDIES}")
        load_s = time.monotonic() - started

        stranger_accepted = {
            "association": "accepted",
            "echo": "success",
            # Orthanc accepts Q/R contexts from anyone and decides per request.
            "contexts": {"verification": "accepted", "storage": "accepted", "find": "accepted"},
        }
        http_open = {
            "exposure": "query",
            "auth": False,
            "studies": STUDIES,
            "listing_paths": ("/studies", "/dicom-web/studies"),
        }
        expected: dict[str, Any]
        if guarded:
            expected = {
                "exposure": "protected",
                "ae_title": None,
                "called_ae_checked": True,
                "stranger": {
                    "association": dict(REJECT_CALLED_AE),
                    "echo": None,
                    "find": None,
                    "matches": None,
                },
                # Right called title, unknown calling title: rejected too, reason 3.
                "right_called_ae": {
                    "called": "ORTHANC",
                    "association": dict(REJECT_CALLING_AE),
                    "echo": None,
                    "find": None,
                    "matches": None,
                },
                # The calling AE title is the only credential (DicomCheckModalityHost false):
                # anyone who guesses KNOWNPACS gets echo and C-FIND with every study.
                "known_calling_ae": {
                    "calling": "KNOWNPACS",
                    "called": "ORTHANC",
                    "association": "accepted",
                    "echo": "success",
                    "find": "matches",
                    "matches": STUDIES,
                    "wrong_called_ae": dict(REJECT_CALLED_AE),
                },
                "http": {
                    "exposure": "protected",
                    "auth": True,
                    "status": 401,
                    "user": user,
                    "password": password,
                    "listing_paths": ("/studies", "/dicom-web/studies"),
                },
            }
        else:
            expected = {
                "exposure": "query" if always_find else "store",
                "ae_title": STRANGER_AE,  # any called title: DicomCheckCalledAet false
                "called_ae_checked": False,
                "stranger": {
                    **stranger_accepted,
                    # Not allowed: the FIND context is accepted, then the C-FIND-RQ is
                    # answered with an A-ABORT (no C-FIND-RSP at all).
                    "find": "matches" if always_find else "aborted",
                    "matches": STUDIES if always_find else None,
                },
                "right_called_ae": {"called": "ORTHANC", "association": "accepted"},
                "http": http_open,
            }
        if web == "users":
            expected["http"] = {
                "exposure": "protected",
                "auth": True,
                "status": 401,
                "user": user,
                "password": password,
                "listing_paths": ("/studies", "/dicom-web/studies"),
            }
        elif web == "default-user":
            expected["http"] = {
                "exposure": "protected",
                "auth": True,
                "status": 401,
                "default_credentials": ORTHANC_DEFAULT_USER,
                "exposure_with_default_credentials": "query",
                "studies": STUDIES,
            }
        if web is not None:
            expected["http"] = {**expected["http"], "remote_access": True, "access_log": True}
        expected["fingerprint"] = dict(DCMTK_FINGERPRINT)
        expected["product"] = "Orthanc 1.10 (Debian), DICOMweb plugin 1.7"
        yield Peer(
            name=name,
            port=dicom_port,
            ae_title="ORTHANC",
            http_port=http_port,
            expected=expected,
            studies=STUDIES,
            files=files,
            paths={"workdir": workdir, "config": config, "log": workdir / "server.log"},
            startup_s=running.startup_s,
            netns=running.netns,
            pid=running.pid,
            load_s=load_s,
        )


@pytest.fixture(scope="module")
def orthanc_default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with its shipped DICOM defaults: echo and store from anyone, C-FIND refused."""
    yield from _orthanc(tmp_path_factory, "orthanc_default", always_find=False, guarded=False)


@pytest.fixture(scope="module")
def orthanc_find_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with ``DicomAlwaysAllowFind`` true: C-FIND from anyone returns every study."""
    yield from _orthanc(tmp_path_factory, "orthanc_find_open", always_find=True, guarded=False)


@pytest.fixture(scope="module")
def orthanc_guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc checking the called AE, allowing nothing to unknown peers, HTTP auth on."""
    yield from _orthanc(tmp_path_factory, "orthanc_guarded", always_find=False, guarded=True)


@pytest.fixture(scope="module")
def orthanc_web_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with remote access on and HTTP authentication explicitly off."""
    yield from _orthanc(
        tmp_path_factory, "orthanc_web_open", always_find=False, guarded=False, web="open"
    )


@pytest.fixture(scope="module")
def orthanc_web_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with remote access on, HTTP authentication on, one registered user."""
    yield from _orthanc(
        tmp_path_factory, "orthanc_web_auth", always_find=False, guarded=False, web="users"
    )


@pytest.fixture(scope="module")
def orthanc_web_default_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with remote access and authentication on, no RegisteredUsers: orthanc/orthanc."""
    yield from _orthanc(
        tmp_path_factory,
        "orthanc_web_default_user",
        always_find=False,
        guarded=False,
        web="default-user",
    )


# --------------------------------------------------------------------------- dcmqrscp


def _dcmqrscp_config(sample: str, port: int, areas: Mapping[str, Path]) -> str:
    """DCMTK's sample with our port, the sample's own commented AE lines enabled on
    temporary storage areas, and the setuid to user/group ``dcmtk`` left out (as root,
    dcmqrscp would switch to ``dcmtk``, which cannot write a pytest temporary directory)."""
    lines = []
    for line in sample.splitlines():
        stripped = line.strip()
        if stripped.startswith("NetworkTCPPort"):
            line = f"NetworkTCPPort  = {port}"
        elif stripped.startswith(("UserName", "GroupName")):
            line = f"# {line}  (disabled by tests/support/peers.py)"
        else:
            match = re.match(r"#\s*(\w+)\s+(\S+)\s+(RW|R|W)\s+(\(.*?\))\s+(ANY)\s*$", stripped)
            if match and match.group(1) in areas:
                title, _, access, quota, peers = match.groups()
                line = f"{title:<13} {areas[title]}  {access}  {quota}  {peers}"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def dcmqrscp_stock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """dcmqrscp configured like DCMTK's sample: stock titles READWRITE (RW) and READ (R)."""
    _require(DCMQRSCP, STORESCU, DCMQRSCP_SAMPLE)
    name = "dcmqrscp_stock"
    workdir = _workdir(tmp_path_factory, name)
    sample = DCMQRSCP_SAMPLE.read_text("utf-8", "replace")
    # Debian's sample ships its AETable commented out; it offers these two lines to
    # "uncomment ... for a common r/rw storage area", with peers ANY.
    areas = {"READWRITE": workdir / "READWRITE", "READ": workdir / "READ"}
    for area in areas.values():
        area.mkdir()
    config = workdir / "dcmqrscp.cfg"

    def command(ports: list[int]) -> list[str]:
        config.write_text(_dcmqrscp_config(sample, ports[0], areas), encoding="utf-8")
        if not re.search(r"^READWRITE\s", config.read_text("utf-8"), re.M):
            pytest.fail(f"{DCMQRSCP_SAMPLE} no longer offers the READWRITE storage area")
        # Default multi-process mode (a fork per association), as shipped.
        return [str(DCMQRSCP), "-c", str(config)]

    with _serve(name, workdir, 1, command) as running:
        (port,) = running.ports
        started = time.monotonic()
        files = tuple(make_studies(STUDIES, 1, workdir / "data"))
        _run(
            [str(STORESCU), "-aec", "READWRITE", HOST, str(port), *map(str, files)],
            f"{name}: loading studies",
        )
        load_s = time.monotonic() - started
        yield Peer(
            name=name,
            port=port,
            ae_title="READWRITE",
            expected={
                "exposure": "query",
                "ae_title": "READWRITE",
                "called_ae_checked": True,
                "stranger": {
                    "association": dict(REJECT_CALLED_AE),
                    "echo": None,
                    "find": None,
                    "matches": None,
                },
                # Any calling title is accepted (peers ANY); only the called title matters.
                "titles": {
                    "READWRITE": {
                        "access": "RW",
                        "echo": "success",
                        "contexts": {
                            "verification": "accepted",
                            "storage": "accepted",
                            "find": "accepted",
                        },
                        "find": "matches",
                        "matches": STUDIES,
                    },
                    "READ": {
                        "access": "R",
                        "echo": "success",
                        # result 1: rejected by the user (read-only area)
                        "contexts": {
                            "verification": "accepted",
                            "storage": ("rejected", 1),
                            "find": "accepted",
                        },
                        "find": "matches",
                        "matches": 0,
                    },
                },
                "config_source": str(DCMQRSCP_SAMPLE),
                "config_changes": (
                    "NetworkTCPPort: a free port",
                    "UserName/GroupName dcmtk commented out (no setuid when run as root)",
                    "the sample's commented READWRITE and READ lines enabled on temp dirs",
                ),
                "fingerprint": dict(DCMTK_FINGERPRINT),
                "product": "DCMTK dcmqrscp 3.6.7",
            },
            studies=STUDIES,
            files=files,
            paths={"workdir": workdir, "config": config, "log": workdir / "server.log"},
            startup_s=running.startup_s,
            netns=running.netns,
            pid=running.pid,
            load_s=load_s,
        )


# --------------------------------------------------------------------------- storescp


def _storescp_expected(
    *, tls: Mapping[str, Any] | None, client_cert_required: bool
) -> dict[str, Any]:
    expected: dict[str, Any] = {
        "exposure": "protected" if client_cert_required else "store",
        "ae_title": None if client_cert_required else STRANGER_AE,
        "called_ae_checked": False,
        "stranger": {
            "association": "accepted",
            "echo": "success",
            # Q/R FIND: result 3, abstract syntax not supported.
            "contexts": {
                "verification": "accepted",
                "storage": "accepted",
                "find": ("rejected", 3),
            },
            "find": "no-context",
            "matches": None,
        },
        "fingerprint": dict(DCMTK_FINGERPRINT),
        "product": "DCMTK storescp 3.6.7",
    }
    if client_cert_required:
        expected["stranger"] = {
            "association": None,
            "echo": None,
            "find": None,
            "matches": None,
            "tls_error": True,
        }
        expected["with_client_cert"] = {"association": "accepted", "echo": "success"}
    if tls is not None:
        expected["tls"] = dict(tls)
        # storescp's one listener speaks TLS only; plain DICOM there is read as a TLS record
        # ("wrong version number") and the connection is closed without an answer.
        expected["plain_tcp"] = "connection-closed"
    return expected


def _storescp(
    factory: pytest.TempPathFactory,
    name: str,
    tls_args: list[str],
    tls: Mapping[str, Any] | None,
    certs: Mapping[str, Path] | None = None,
) -> Iterator[Peer]:
    _require(STORESCP)
    workdir = _workdir(factory, name)
    received = workdir / "received"
    received.mkdir()

    def command(ports: list[int]) -> list[str]:
        return [
            str(STORESCP),
            "--aetitle",
            "STORESCP",
            "--output-directory",
            str(received),
            # Bounded waits (stock: 60 s socket, 30 s ACSE, no DIMSE timeout): the server
            # handles one association at a time, so a silent client would block the next.
            "--socket-timeout",
            "10",
            "--acse-timeout",
            "10",
            "--dimse-timeout",
            "10",
            *tls_args,
            str(ports[0]),
        ]

    with _serve(name, workdir, 1, command) as running:
        (port,) = running.ports
        yield Peer(
            name=name,
            port=port,
            ae_title="STORESCP",
            tls_port=port if tls is not None else None,
            expected=_storescp_expected(
                tls=tls, client_cert_required=bool(tls and tls["client_cert"] == "required")
            ),
            studies=0,
            paths={
                "workdir": workdir,
                "received": received,
                "log": workdir / "server.log",
                **(certs or {}),
            },
            startup_s=running.startup_s,
            netns=running.netns,
            pid=running.pid,
        )


@pytest.fixture(scope="module")
def storescp_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """``storescp --aetitle STORESCP``: echo and storage from anyone, any called title."""
    yield from _storescp(tmp_path_factory, "storescp_plain", [], None)


def _openssl_facts(openssl: str, cert: Path) -> dict[str, Any]:
    out = _run(
        [
            openssl,
            "x509",
            "-in",
            str(cert),
            "-noout",
            "-subject",
            "-issuer",
            "-enddate",
            "-fingerprint",
            "-sha256",
            "-nameopt",
            "RFC2253",
        ],
        "openssl x509",
    )
    facts = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    fingerprint = next(v for k, v in facts.items() if "Fingerprint" in k)
    return {
        "subject": facts["subject"].strip(),
        "issuer": facts["issuer"].strip(),
        "not_after": facts["notAfter"].strip(),
        "sha256": fingerprint.replace(":", "").strip().lower(),
    }


@pytest.fixture(scope="module")
def peer_tls_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Throwaway self-signed server and client certificates (RSA 2048, 2 days)."""
    openssl = _tool("openssl", "openssl")
    workdir = _workdir(tmp_path_factory, "peer_tls_certs")
    paths: dict[str, Path] = {}
    for role, cn in (("server", "exposcan-test"), ("client", "exposcan-test-client")):
        key, cert = workdir / f"{role}.key", workdir / f"{role}.pem"
        _run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN={cn}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            f"openssl req ({role})",
        )
        paths[f"{role}_key"], paths[f"{role}_cert"] = key, cert
    return {"paths": paths, "server": _openssl_facts(openssl, paths["server_cert"])}


def _tls_facts(certs: Mapping[str, Any], client_cert: str) -> dict[str, Any]:
    return {
        **certs["server"],
        "self_signed": True,
        "key": "RSA 2048",
        # DCMTK's default profile "Non-downgrading BCP 195" (TLS 1.2 and 1.3 only), with
        # Python's default client context and Debian's OpenSSL 3.0:
        "version": "TLSv1.3",
        "cipher": "TLS_AES_256_GCM_SHA384",
        "tls12_cipher": "DHE-RSA-AES256-GCM-SHA384",
        # "ignored": -ic; "required": -rc with the client certificate as the only trust
        # anchor. TLS 1.3: the client's handshake completes, then its first read gets the
        # certificate_required alert (116). TLS 1.2: handshake_failure (40) in the handshake.
        "client_cert": client_cert,
    }


@pytest.fixture(scope="module")
def storescp_tls(
    tmp_path_factory: pytest.TempPathFactory, peer_tls_certs: dict[str, Any]
) -> Iterator[Peer]:
    """storescp over TLS that ignores client certificates (``+tls KEY CERT -ic``)."""
    paths = peer_tls_certs["paths"]
    yield from _storescp(
        tmp_path_factory,
        "storescp_tls",
        ["+tls", str(paths["server_key"]), str(paths["server_cert"]), "-ic"],
        _tls_facts(peer_tls_certs, "ignored"),
        paths,
    )


@pytest.fixture(scope="module")
def storescp_tls_client_cert(
    tmp_path_factory: pytest.TempPathFactory, peer_tls_certs: dict[str, Any]
) -> Iterator[Peer]:
    """storescp over TLS that requires a client certificate it trusts (``-rc +cf``)."""
    paths = peer_tls_certs["paths"]
    yield from _storescp(
        tmp_path_factory,
        "storescp_tls_client_cert",
        [
            "+tls",
            str(paths["server_key"]),
            str(paths["server_cert"]),
            "-rc",
            "+cf",
            str(paths["client_cert"]),
        ],
        _tls_facts(peer_tls_certs, "required"),
        paths,
    )

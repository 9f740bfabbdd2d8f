"""More real DICOM peers for tests, none written here: PixelMed's Java storage server,
DCMTK's worklist SCP ``wlmscpfs``, Orthanc with its ModalityWorklists plugin, and an SCP
built on odil.

Each binds every IPv4 address (PixelMed and Orthanc cannot be told otherwise; nor can
``wlmscpfs``; odil's Python binding only offers ``receive_association("v4", port)``), so
each runs through ``tests/support/peers.py``'s ``_serve``: a network namespace that holds
only ``lo``, its ports forwarded to 127.0.0.1 here, the server stopped by its process group
and the namespace deleted at teardown. Data is synthetic (``tests/support/synthetic.py``,
``tests/support/worklists.py``). A missing tool fails the fixture with the line that
installs it (``peers._tool``/``peers._require`` call ``pytest.fail``, never a skip).

The fixtures are module scoped: a test module imports the ones it uses by name.
``Peer.expected`` holds what a stranger observes with DCMTK's clients (checked by hand when
these were written; the test module states the verdicts a scan must reach).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import peers
from tests.support.peers import HOST, ORTHANC, STORESCU, Peer
from tests.support.synthetic import MARKER, SYNTHETIC_STRINGS, make_studies
from tests.support.worklists import make_worklist

JAVA = Path("/usr/bin/java")
PIXELMED_JAR = Path("/usr/share/java/pixelmed.jar")
PIXELMED_HINT = "apt-get install default-jre-headless libpixelmed-java pixelmed-apps"
WLMSCPFS = Path("/usr/bin/wlmscpfs")
WORKLIST_PLUGIN = Path("/usr/share/orthanc/plugins/libModalityWorklists.so")
#: Debian's own interpreter: python3-odil is built for it, not for the venv's Python.
DEBIAN_PYTHON = Path("/usr/bin/python3")
ODIL_SCP = Path(__file__).with_name("odil_scp.py")

#: A site's own called title, in no stock list: only someone who knows it gets in.
PIXELMED_AE = "ARCHIVE7"
#: DCMTK's sample worklist folder and title (/usr/share/doc/dcmtk/examples/wlistdb/OFFIS).
WLMSCPFS_AE = "OFFIS"
STUDIES = 3
WORKLIST_ITEMS = 4
ODIL_MATCHES = 5


def _fail_without(*paths: Path, hint: str) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.fail(f"missing: {', '.join(missing)}; install with: {hint}")


def _store(port: int, called: str, files: tuple[Path, ...], what: str) -> None:
    """Load synthetic files with DCMTK's storescu (test setup, never the scanner)."""
    peers._run(
        [str(STORESCU), "-aet", "EXPOSCANTEST", "-aec", called, HOST, str(port)]
        + [str(p) for p in files],
        f"{what}: storescu",
    )


def _peer(name: str, running: peers.Running, workdir: Path, **kwargs: Any) -> Peer:
    return Peer(
        name=name,
        netns=running.netns,
        pid=running.pid,
        startup_s=running.startup_s,
        paths={"workdir": workdir, "log": workdir / "server.log", **kwargs.pop("paths", {})},
        **kwargs,
    )


# --------------------------------------------------------------------------- PixelMed


@pytest.fixture(scope="module")
def pixelmed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """PixelMed's ``com.pixelmed.server.DicomAndWebStorageServer`` (Debian
    libpixelmed-java 20220618): storage, Q/R and a web interface, checking the called
    title, which is :data:`PIXELMED_AE`. Three synthetic studies loaded."""
    _fail_without(JAVA, PIXELMED_JAR, hint=PIXELMED_HINT)
    _fail_without(STORESCU, hint=peers.INSTALL_HINT)
    workdir = tmp_path_factory.mktemp("pixelmed", numbered=True)
    images = workdir / "images"
    images.mkdir()
    config = workdir / "server.properties"

    def command(ports: list[int]) -> list[str]:
        dicom_port, web_port = ports
        # Keys read by DicomAndWebStorageServer and the Network/Database/WebServer
        # ApplicationProperties classes it builds (strings of the Debian jar).
        config.write_text(
            "\n".join(
                [
                    f"Dicom.ListeningPort={dicom_port}",
                    f"Dicom.CalledAETitle={PIXELMED_AE}",
                    f"Dicom.CallingAETitle={PIXELMED_AE}",
                    "Dicom.PrimaryDeviceType=ARCHIVE",
                    f"Application.SavedImagesFolderName={images}",
                    f"Application.DatabaseFileName={workdir / 'db'}",
                    f"WebServer.ListeningPort={web_port}",
                    "",
                ]
            ),
            encoding="ascii",
        )
        return [
            str(JAVA),
            "-Djava.awt.headless=true",
            "-Xmx256m",
            "-cp",
            str(PIXELMED_JAR),
            "com.pixelmed.server.DicomAndWebStorageServer",
            str(config),
        ]

    with peers._serve("pixelmed", workdir, 2, command) as running:
        dicom_port, web_port = running.ports
        started = time.monotonic()
        files = tuple(make_studies(STUDIES, 1, workdir / "data"))
        _store(dicom_port, PIXELMED_AE, files, "pixelmed")
        yield _peer(
            "pixelmed",
            running,
            workdir,
            port=dicom_port,
            http_port=web_port,
            ae_title=PIXELMED_AE,
            studies=STUDIES,
            files=files,
            load_s=time.monotonic() - started,
            paths={"config": config},
            expected={
                "called_ae_checked": True,
                "fingerprint": {
                    # com.pixelmed.dicom.VersionAndConstants of the Debian jar (javap).
                    "implementation_class_uid": "1.3.6.1.4.1.5962.99.2",
                    "implementation_version_name": "PIXELMEDJAVA001",
                },
            },
        )


# --------------------------------------------------------------------------- wlmscpfs


@pytest.fixture(scope="module")
def wlmscpfs_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """DCMTK's worklist SCP as its sample sets it up: one folder per called title (``OFFIS``)
    holding :data:`WORKLIST_ITEMS` synthetic items; any other called title is refused."""
    wlmscpfs = peers._tool("wlmscpfs", "dcmtk")
    workdir = tmp_path_factory.mktemp("wlmscpfs", numbered=True)
    database = workdir / "wlistdb"
    items = tuple(make_worklist(WORKLIST_ITEMS, database / WLMSCPFS_AE))

    def command(ports: list[int]) -> list[str]:
        return [wlmscpfs, "-dfp", str(database), str(ports[0])]

    with peers._serve("wlmscpfs", workdir, 1, command) as running:
        yield _peer(
            "wlmscpfs",
            running,
            workdir,
            port=running.ports[0],
            ae_title=WLMSCPFS_AE,
            files=items,
            expected={
                "called_ae_checked": True,
                "worklist_items": WORKLIST_ITEMS,
                "fingerprint": dict(peers.DCMTK_FINGERPRINT),
            },
        )


# --------------------------------------------------------------------------- Orthanc


@pytest.fixture(scope="module")
def orthanc_worklist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with its shipped DICOM defaults (C-FIND refused to strangers: the association
    is aborted at the C-FIND-RQ) and the ModalityWorklists plugin open to anyone
    (``DicomAlwaysAllowFindWorklist``) over :data:`WORKLIST_ITEMS` synthetic items."""
    _fail_without(ORTHANC, WORKLIST_PLUGIN, hint="apt-get install orthanc")
    workdir = tmp_path_factory.mktemp("orthanc_worklist", numbered=True)
    storage = workdir / "storage"
    storage.mkdir()
    worklists = workdir / "worklists"
    items = tuple(make_worklist(WORKLIST_ITEMS, worklists))
    config = workdir / "orthanc.json"

    def command(ports: list[int]) -> list[str]:
        dicom_port, http_port = ports
        settings = {
            "Name": "exposcan-orthanc-worklist",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "DicomServerEnabled": True,
            "DicomPort": dicom_port,
            "HttpPort": http_port,
            "DicomAlwaysAllowFind": False,
            "DicomAlwaysAllowFindWorklist": True,
            "DicomCheckModalityHost": False,
            "DicomModalities": {},
            "OrthancPeers": {},
            "Plugins": [str(WORKLIST_PLUGIN)],
            "Worklists": {"Enable": True, "Database": str(worklists)},
            "SaveJobs": False,
        }
        config.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        return [str(ORTHANC), str(config)]

    with peers._serve("orthanc_worklist", workdir, 2, command) as running:
        dicom_port, http_port = running.ports
        yield _peer(
            "orthanc_worklist",
            running,
            workdir,
            port=dicom_port,
            http_port=http_port,
            ae_title="ORTHANC",
            files=items,
            paths={"config": config},
            expected={
                "called_ae_checked": False,
                "worklist_items": WORKLIST_ITEMS,
                "find": "aborted",
                "fingerprint": dict(peers.DCMTK_FINGERPRINT),
            },
        )


# --------------------------------------------------------------------------- odil


def odil_entries(n: int) -> list[dict[str, str]]:
    """What the odil SCP answers to any C-FIND: ``n`` invented patients (added to
    ``SYNTHETIC_STRINGS``, so the leak checks look for them)."""
    entries = [
        {
            "PatientName": f"{MARKER}^ODIL{i:03d}",
            "PatientID": f"{MARKER}OD{i:05d}",
            "StudyInstanceUID": f"2.25.{10**30 + i}",
        }
        for i in range(1, n + 1)
    ]
    for entry in entries:
        SYNTHETIC_STRINGS.update(entry.values())
        SYNTHETIC_STRINGS.add(entry["PatientName"].replace("^", " "))
    return entries


@pytest.fixture(scope="module")
def odil_scp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """An SCP on odil's own classes (``tests/support/odil_scp.py``, Debian python3-odil
    0.12): odil's default acceptor (every proposed context accepted), C-ECHO, and
    :data:`ODIL_MATCHES` matches to any C-FIND, one association at a time."""
    _fail_without(DEBIAN_PYTHON, hint="apt-get install python3-odil")
    workdir = tmp_path_factory.mktemp("odil", numbered=True)
    matches = workdir / "matches.json"
    matches.write_text(json.dumps(odil_entries(ODIL_MATCHES)), encoding="utf-8")
    probe = peers._run(
        [str(DEBIAN_PYTHON), "-c", "import odil; print(odil.implementation_version_name)"],
        "python3-odil (apt-get install python3-odil)",
    )

    def command(ports: list[int]) -> list[str]:
        return [str(DEBIAN_PYTHON), "-u", str(ODIL_SCP), str(ports[0]), str(matches)]

    with peers._serve("odil", workdir, 1, command) as running:
        yield _peer(
            "odil",
            running,
            workdir,
            port=running.ports[0],
            ae_title="ANY-SCP",
            expected={
                "called_ae_checked": False,
                "matches": ODIL_MATCHES,
                "version_name": probe.strip(),
                "fingerprint": {
                    # lamyj/odil src/odil/uid.cpp: uid_prefix + "0." + major (no dot
                    # between them), "Odil " + major; Debian python3-odil 0.12.2.
                    "implementation_class_uid": "1.2.826.0.1.3680043.9.55600.0",
                    "implementation_version_name": "Odil 0",
                },
            },
        )

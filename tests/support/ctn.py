"""CTN, the RSNA Central Test Node (Debian ``ctn`` 3.2.0), as a real peer nobody here wrote.

``simple_storage`` is CTN's storage SCP (usage from its own ``-h``): ``-s`` silent,
``-x DIR`` where it writes what it receives, ``-c TITLE`` the only called AE title it
accepts (without ``-c``, any). Nothing may arrive (exposcan never stores): a test checks
that DIR stays empty, which is why ``-k`` (delete arrivals) is left out. It binds 0.0.0.0
and takes no bind address, so it runs through ``tests/support/peers.py``'s ``_serve``: a
network namespace holding only ``lo``, its port forwarded to 127.0.0.1 here, stopped with
its namespace at teardown.

What a stranger observes (checked with DCMTK's ``echoscu``/``findscu`` when this was
written, and again by ``tests/peers/test_ctn.py``): any called title without ``-c``; an
A-ASSOCIATE-RJ "called AE title not recognized" (PS3.8 9.3.4, reason 7) for a wrong one
with ``-c``; Verification, the storage classes and the Q/R FIND/MOVE models accepted; and
to any Study Root C-FIND, :data:`CANNED_MATCHES` canned identifiers of CTN's own
(PatientName ``Name:1`` ... with birth dates 1993-12-01 ...), whatever keys were asked.
Its A-ASSOCIATE-AC carries :data:`CTN_FINGERPRINT`.

The fixtures are module scoped: a test module imports the ones it uses by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import peers
from tests.support.peers import Peer

SIMPLE_STORAGE = "simple_storage"
CTN_PACKAGE = "ctn"
#: A site's own called title, in no stock list.
CTN_SITE_AE = "SITESTORE7"
#: Pending C-FIND responses simple_storage sends to any Study Root C-FIND.
CANNED_MATCHES = 4
#: Values of those canned identifiers (CTN's, not ours): a result must carry none.
CANNED_VALUES = ("Name:1", "Name:2", "Name:3", "Name:4", "19931201", "19931204")
#: Its A-ASSOCIATE-AC as Debian's ctn 3.2.0~dfsg-7 sends it (DCMTK ``echoscu -d``: "Their
#: Implementation Class UID / Version Name"), the values exposcan/data/fingerprints.toml's
#: ``ctn`` entry was written from.
CTN_FINGERPRINT = {
    "implementation_class_uid": "1.2.840.113654.2.3.1995.3.0.6",
    "implementation_version_name": "MIRCTN11MAR2003",
}


def _simple_storage(
    factory: pytest.TempPathFactory, name: str, called: str | None
) -> Iterator[Peer]:
    binary = peers._tool(SIMPLE_STORAGE, CTN_PACKAGE)
    workdir = factory.mktemp(name, numbered=True)
    images = workdir / "images"
    images.mkdir()
    title = ["-c", called] if called else []

    def command(ports: list[int]) -> list[str]:
        return [binary, "-s", "-x", str(images), *title, str(ports[0])]

    with peers._serve(name, workdir, 1, command) as running:
        yield Peer(
            name=name,
            port=running.ports[0],
            ae_title=called or peers.STRANGER_AE,
            expected={
                "called_ae_checked": called is not None,
                "matches": None if called else CANNED_MATCHES,
                "fingerprint": dict(CTN_FINGERPRINT),
            },
            paths={"workdir": workdir, "images": images, "log": workdir / "server.log"},
            startup_s=running.startup_s,
            netns=running.netns,
            pid=running.pid,
        )


@pytest.fixture(scope="module")
def ctn_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """``simple_storage`` as started without ``-c``: any called title gets in."""
    yield from _simple_storage(tmp_path_factory, "ctn_open", None)


@pytest.fixture(scope="module")
def ctn_site_title(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """``simple_storage -c SITESTORE7``: only the site's own called title gets in."""
    yield from _simple_storage(tmp_path_factory, "ctn_site_title", CTN_SITE_AE)


def images_received(peer: Peer) -> list[Path]:
    """Whatever CTN wrote under its base directory (a scan must leave it empty)."""
    return sorted(p for p in peer.paths["images"].rglob("*") if p.is_file())

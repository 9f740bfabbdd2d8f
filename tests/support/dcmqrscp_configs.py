"""DCMTK ``dcmqrscp`` configured as sites configure it, beyond DCMTK's shipped sample.

The format is the one ``/etc/dcmtk/dcmqrscp.cfg`` (Debian dcmtk 3.6.7) documents in its
comments: global ``NetworkTCPPort``, ``MaxPDUSize``, ``MaxAssociations``; a ``HostTable``
of symbolic names for ``(AETitle, HostName, Portnumber)`` triples (host names, not
addresses: "you cannot substitute an IP address for a hostname"); an ``AETable`` whose rows
are ``AETitle StorageArea Access Quota Peers`` with Access ``R | RW | W`` and Peers either
``ANY`` or a HostTable name. Two configurations:

* :func:`dcmqrscp_peers_only`: the sample's stock ``READWRITE`` area, but open only to the
  site's one modality (``SITEPACS`` on ``localhost``; the fixture's forwarder reaches the
  server from 127.0.0.1 of its namespace). Observed with ``echoscu``: any other calling
  title is refused with A-ASSOCIATE-RJ reason 7, "called AE title not recognized" (PS3.8
  9.3.4), the same answer as for an unknown called title (``peerInAETitle`` failing).
* :func:`dcmqrscp_upstream_sample`: the AETable of DCMTK's upstream sample
  (``dcmqrdb/etc/dcmqrscp.cfg``; Debian ships it commented out, with these example
  names): ``ACME_STORE`` and ``UNITED_STORE`` for their HostTable peers only, then
  ``COMMON``, read-only (``R``) and open to ``ANY``. The COMMON area holds
  :data:`STUDIES` synthetic studies, loaded by a first run in which it is ``RW``: with
  ``R``, dcmqrscp rejects every storage presentation context (result 1, user rejection).

No ``UserName``/``GroupName`` (as root, dcmqrscp would switch to user ``dcmtk``, which
cannot write a pytest temporary directory). Each runs through ``peers._serve`` in a
namespace holding only ``lo``. Fixtures are module scoped; import them by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support import peers, peers_more
from tests.support.peers import DCMQRSCP, DCMTK_FINGERPRINT, HOST, STORESCU, Peer
from tests.support.synthetic import make_studies

STUDIES = 3
#: The only calling title the peers-only configuration admits.
SITE_PEER_AE = "SITEPACS"


def config_text(
    port: int, hosts: Mapping[str, str], rows: Sequence[tuple[str, Path, str, str, str]]
) -> str:
    """A dcmqrscp.cfg: ``hosts`` are HostTable lines (name -> right-hand side), ``rows``
    AETable rows (title, storage area, access, quota, peers)."""
    lines = [f"NetworkTCPPort  = {port}", "MaxPDUSize      = 16384", "MaxAssociations = 16"]
    lines += ["HostTable BEGIN", *(f"{k} = {v}" for k, v in hosts.items()), "HostTable END"]
    lines += ["VendorTable BEGIN", "VendorTable END", "AETable BEGIN"]
    lines += [f"{t:<13} {area}  {access}  {quota}  {who}" for t, area, access, quota, who in rows]
    return "\n".join([*lines, "AETable END", ""])


def _load(port: int, calling: str, called: str, files: Sequence[Path], what: str) -> None:
    peers._run(
        [str(STORESCU), "-aet", calling, "-aec", called, HOST, str(port), *map(str, files)],
        f"{what}: loading studies (test setup, never the scanner)",
    )


def _peer(name: str, running: peers.Running, workdir: Path, config: Path, **kw: Any) -> Peer:
    paths = {"config": config}
    return peers_more._peer(name, running, workdir, port=running.ports[0], paths=paths, **kw)


@pytest.fixture(scope="module")
def dcmqrscp_peers_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """READWRITE, RW, for the HostTable entry ``sitepacs`` only (SITEPACS@localhost)."""
    peers._require(DCMQRSCP, STORESCU)
    name = "dcmqrscp_peers_only"
    workdir = tmp_path_factory.mktemp(name, numbered=True)
    area = workdir / "READWRITE"
    area.mkdir()
    config = workdir / "dcmqrscp.cfg"
    hosts = {"sitepacs": f"({SITE_PEER_AE}, localhost, 104)"}

    def command(ports: list[int]) -> list[str]:
        rows = [("READWRITE", area, "RW", "(10, 1024mb)", "sitepacs")]
        config.write_text(config_text(ports[0], hosts, rows), encoding="utf-8")
        return [str(DCMQRSCP), "-c", str(config)]

    with peers._serve(name, workdir, 1, command) as running:
        files = tuple(make_studies(STUDIES, 1, workdir / "data"))
        _load(running.ports[0], SITE_PEER_AE, "READWRITE", files, name)
        yield _peer(
            name,
            running,
            workdir,
            config,
            ae_title="READWRITE",
            studies=STUDIES,
            files=files,
            expected={
                "exposure": "protected",
                "peer": SITE_PEER_AE,
                "stranger": {"association": dict(peers.REJECT_CALLED_AE)},
                "fingerprint": dict(DCMTK_FINGERPRINT),
            },
        )


#: The upstream sample's HostTable, its host names replaced by ``localhost`` (dcmqrscp
#: compares them with the peer's; acmehost1 and the like resolve nowhere).
UPSTREAM_HOSTS = {
    "acme1": "(ACME1, localhost, 5678)",
    "acme2": "(ACME2, localhost, 5678)",
    "acmeCTcompany": "acme1, acme2",
    "united1": "(UNITED1, localhost, 104)",
    "united2": "(UNITED2, localhost, 104)",
    "unitedMRcompany": "united1, united2",
}


def _upstream_rows(workdir: Path, common_access: str) -> list[tuple[str, Path, str, str, str]]:
    return [
        ("ACME_STORE", workdir / "ACME_STORE", "RW", "(9, 1024mb)", "acmeCTcompany"),
        ("UNITED_STORE", workdir / "UNITED_STORE", "RW", "(9, 1024mb)", "unitedMRcompany"),
        ("COMMON", workdir / "COMMON", common_access, "(200, 1024mb)", "ANY"),
    ]


@pytest.fixture(scope="module")
def dcmqrscp_upstream_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Three AEs on one port: two for their peers only, COMMON read-only for anyone."""
    peers._require(DCMQRSCP, STORESCU)
    name = "dcmqrscp_upstream_sample"
    workdir = tmp_path_factory.mktemp(name, numbered=True)
    for _, area, *_ in _upstream_rows(workdir, "R"):
        area.mkdir()
    config = workdir / "dcmqrscp.cfg"
    files = tuple(make_studies(STUDIES, 1, workdir / "data"))

    def command_with(access: str) -> Callable[[list[int]], list[str]]:
        def command(ports: list[int]) -> list[str]:
            text = config_text(ports[0], UPSTREAM_HOSTS, _upstream_rows(workdir, access))
            config.write_text(text, encoding="utf-8")
            return [str(DCMQRSCP), "-c", str(config)]

        return command

    # The owner fills COMMON while it is writable, then makes it read-only.
    with peers._serve(f"{name}-load", workdir, 1, command_with("RW")) as loading:
        _load(loading.ports[0], "LOADER", "COMMON", files, name)
    with peers._serve(name, workdir, 1, command_with("R")) as running:
        yield _peer(
            name,
            running,
            workdir,
            config,
            ae_title="COMMON",
            studies=STUDIES,
            files=files,
            expected={
                "exposure": "query",
                "titles": ["ACME_STORE", "UNITED_STORE", "COMMON"],
                "contexts": {"storage": ("rejected", 1), "find": "accepted"},
                "fingerprint": dict(DCMTK_FINGERPRINT),
            },
        )

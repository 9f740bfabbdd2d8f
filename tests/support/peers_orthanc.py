"""Real Orthanc (Debian 1.10) in configurations beyond those of ``tests/support/peers.py``.

Each runs through ``peers._orthanc`` (its own namespace holding only ``lo``, synthetic
studies loaded through its REST API) with a few keys changed, and says in ``expected``
what a stranger gets, checked first with DCMTK's and pynetdicom's clients in
``tests/peers/test_orthanc_configs.py``:

* :func:`orthanc_store_refused`: ``DicomAlwaysAllowStore`` false, everything else as
  shipped. Orthanc still accepts every storage presentation context (it decides when a
  C-STORE arrives) and then answers an unknown peer's C-STORE-RQ with an A-ABORT: the case the
  product note of issue 14 item 6 is about (``exposcan/product_notes.py``).
* :func:`orthanc_own_title`: ``DicomCheckCalledAet`` true with a site's own
  ``DicomAet`` (:data:`SITE_AET`), echo and store allowed to anyone as shipped: no stock
  title gets in, the site's title does.
* :func:`orthanc_echo_refused`: ``DicomAlwaysAllowEcho`` false and
  ``DicomAlwaysAllowFind`` true: a stranger's C-ECHO-RQ is answered with an A-ABORT,
  its C-FIND with every study.

Both keep the HTTP server on its default terms (``RemoteAccessAllowed`` false,
authentication off): the scanner reaches it through the namespace's forwarder, from
127.0.0.1 inside, which Orthanc counts as local. Fixtures are module scoped; import them
by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.support.peers import REJECT_CALLED_AE, STUDIES, Peer, _orthanc

#: The site's own called AE title (not on exposcan's stock list).
SITE_AET = "SITEPACS"


@pytest.fixture(scope="module")
def orthanc_store_refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with ``DicomAlwaysAllowStore`` false: storage contexts accepted, stores
    from unknown peers refused."""
    for peer in _orthanc(
        tmp_path_factory,
        "orthanc_store_refused",
        always_find=False,
        guarded=False,
        overrides={"DicomAlwaysAllowStore": False},
    ):
        yield replace(
            peer,
            expected={
                **peer.expected,
                "exposure_seen": "store",  # from the A-ASSOCIATE-AC
                "stranger_store": "aborted",
            },
        )


@pytest.fixture(scope="module")
def orthanc_own_title(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc checking the called AE title, its own being :data:`SITE_AET`."""
    for peer in _orthanc(
        tmp_path_factory,
        "orthanc_own_title",
        always_find=False,
        guarded=False,
        overrides={"DicomCheckCalledAet": True, "DicomAet": SITE_AET},
    ):
        yield replace(
            peer,
            ae_title=SITE_AET,
            expected={
                **peer.expected,
                "exposure": "protected",
                "ae_title": None,
                "called_ae_checked": True,
                "stranger": {"association": dict(REJECT_CALLED_AE)},
                "with_site_title": "store",
            },
        )


@pytest.fixture(scope="module")
def orthanc_echo_refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc refusing C-ECHO to strangers (``DicomAlwaysAllowEcho`` false) and answering
    their C-FIND (``DicomAlwaysAllowFind`` true), store allowed as shipped."""
    for peer in _orthanc(
        tmp_path_factory,
        "orthanc_echo_refused",
        always_find=False,
        guarded=False,
        overrides={"DicomAlwaysAllowEcho": False, "DicomAlwaysAllowFind": True},
    ):
        yield replace(
            peer,
            expected={
                **peer.expected,
                "exposure": "query",
                "stranger_echo": "aborted",
                "stranger": {**peer.expected["stranger"], "find": "matches", "matches": STUDIES},
            },
        )

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

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest

from tests.support.peers import REJECT_CALLED_AE, STUDIES, Peer, _orthanc

#: The site's own called AE title (not on exposcan's stock list).
SITE_AET = "SITEPACS"


def _configured(
    factory: pytest.TempPathFactory,
    name: str,
    overrides: Mapping[str, Any],
    expected: Mapping[str, Any],
    ae_title: str = "ORTHANC",
) -> Iterator[Peer]:
    """``peers._orthanc`` with its shipped DICOM variant and ``overrides``; ``expected``
    is laid over what that variant expects."""
    for peer in _orthanc(factory, name, always_find=False, guarded=False, overrides=overrides):
        yield replace(peer, ae_title=ae_title, expected={**peer.expected, **expected})


@pytest.fixture(scope="module")
def orthanc_store_refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc with ``DicomAlwaysAllowStore`` false: storage contexts accepted, stores
    from unknown peers refused."""
    yield from _configured(
        tmp_path_factory,
        "orthanc_store_refused",
        {"DicomAlwaysAllowStore": False},
        {"exposure_seen": "store", "stranger_store": "aborted"},
    )


@pytest.fixture(scope="module")
def orthanc_own_title(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc checking the called AE title, its own being :data:`SITE_AET`."""
    yield from _configured(
        tmp_path_factory,
        "orthanc_own_title",
        {"DicomCheckCalledAet": True, "DicomAet": SITE_AET},
        {
            "exposure": "protected",
            "ae_title": None,
            "called_ae_checked": True,
            "stranger": {"association": dict(REJECT_CALLED_AE)},
            "with_site_title": "store",
        },
        ae_title=SITE_AET,
    )


@pytest.fixture(scope="module")
def orthanc_echo_refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """Orthanc refusing C-ECHO to strangers (``DicomAlwaysAllowEcho`` false) and answering
    their C-FIND (``DicomAlwaysAllowFind`` true), store allowed as shipped."""
    yield from _configured(
        tmp_path_factory,
        "orthanc_echo_refused",
        {"DicomAlwaysAllowEcho": False, "DicomAlwaysAllowFind": True},
        {"exposure": "query", "stranger_echo": "aborted", "stranger_find_matches": STUDIES},
    )

"""In which order the stock called AE titles are tried at one endpoint. Pure.

The budget is small (``ScanOptions.ae_attempts``, and the endpoint deadline under the
per-host rate fits only so many associations), so the order is what finds a title:

1. titles that already got in on other hosts of this scan, the most hosts first (one
   site tends to configure its archives alike);
2. titles of a product the host itself claimed for this port (its web side, through host
   evidence handed to :meth:`exposcan.probe.ProbeRun.observe`: Orthanc's ``/system``
   names its DicomPort, Dicoogle's ``/management/dicom/storage`` and ``/query`` the
   port of each running DICOM service, Conquest's web interface its server's TCPPort;
   the host's web ports are probed before its DICOM ports);
3. titles of the products the port is known for (the ``[[port]]`` tables of
   ``exposcan/data/ae_titles.toml``: 4242 Orthanc, 11112 dcm4che, DCMTK and Horos,
   5678 Conquest, 6666 Dicoogle; 104 is everyone's);
4. every other title.

Each group keeps the file's own order (most likely first). The user's titles
(``--ae-titles``) come before all of these: :class:`~exposcan.probes.aetitle_strategy.Plan`
puts them first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["TitleInfo", "associations_that_fit", "order_titles"]


class TitleInfo(Protocol):
    """What the order reads of a stock title (:class:`exposcan.aetitles.StockTitle`)."""

    @property
    def value(self) -> str: ...
    @property
    def product(self) -> str: ...


def order_titles(
    titles: Sequence[TitleInfo],
    *,
    port: int,
    port_products: Mapping[int, Sequence[str]],
    claimed: Sequence[str] = (),
    worked: Mapping[str, int] | None = None,
) -> tuple[str, ...]:
    """The titles' values in the order they are tried at ``port``, without repeats.

    ``claimed``: products the host said it runs; ``worked``: for each title, on how
    many other hosts of this scan it got in.
    """
    values = list(dict.fromkeys(t.value for t in titles))
    worked = worked or {}

    def of(products: Sequence[str]) -> list[str]:
        # A product by its leading word: the web side says "dcm4chee-arc", the list
        # "dcm4chee archive (2.x and 5.x / arc-light)".
        wanted = [word for p in products if (word := _leading_word(p))]
        return [t.value for t in titles if any(w in t.product.lower() for w in wanted)]

    known = [v for v in values if worked.get(v, 0) > 0]
    known.sort(key=lambda v: -worked[v])  # stable: the file's order among equals
    ordered = dict.fromkeys([*known, *of(claimed), *of(port_products.get(port, ())), *values])
    return tuple(ordered)


def _leading_word(product: str) -> str:
    return re.split(r"[^a-z0-9]+", product.strip().lower(), maxsplit=1)[0]


def associations_that_fit(endpoint_s: float, per_host_rate: float) -> int:
    """How many associations the per-host rate lets start within one endpoint's deadline
    (:func:`exposcan.limits.window_for_rate`: ``count`` grants per ``period``), at most:
    other endpoints of the host share the rate."""
    if per_host_rate >= 1:
        count, period = int(per_host_rate), 1.0
    else:
        count, period = 1, 1.0 / per_host_rate
    windows = int(-(-endpoint_s // period))  # the windows that start before the deadline
    return max(1, count * windows)

"""The web product table: ``exposcan/data/web_products.toml`` read, validated and cached.

Each ``[[viewer]]`` names a viewer, PACS web UI or web portal, the product behind it, the
markers of its pages and the redirects of its root page; each ``[[realm]]`` an HTTP
authentication realm that names a product. Every entry carries its ``source``. The table
is parsed once, lazily; a malformed table raises :class:`WebProductDataError` naming the
entry. Nothing here does I/O beyond reading the packaged file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from exposcan.probes.web.observation import VIEWER_PRODUCT, Product, Viewer

__all__ = ["Realm", "ViewerMarkers", "WebProductDataError", "parse_table", "realms", "viewers"]

_DATA_PACKAGE = "exposcan.data"
_DATA_FILE = "web_products.toml"
_VIEWER_KEYS = frozenset({"id", "product", "markers", "redirects", "source"})
_REALM_KEYS = frozenset({"product", "pattern", "source"})
_E = TypeVar("_E", Product, Viewer)


class WebProductDataError(ValueError):
    """The web product table is malformed; the message names the entry."""


@dataclass(frozen=True, slots=True)
class ViewerMarkers:
    viewer: Viewer
    product: Product
    #: over the first bytes of an HTML page
    markers: tuple[re.Pattern[bytes], ...]
    #: over the path of a root page's redirect target
    redirects: tuple[re.Pattern[str], ...]
    source: str


@dataclass(frozen=True, slots=True)
class Realm:
    product: Product
    pattern: re.Pattern[str]
    source: str


def _strings(entry: dict[str, Any], key: str, where: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise WebProductDataError(f"{_DATA_FILE}: {where}: {key} must be a list of strings")
    return value


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise WebProductDataError(f"{_DATA_FILE}: {where}: {key} is required")
    return value


def _member(kind: type[_E], value: str, where: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        message = f"{_DATA_FILE}: {where}: unknown {kind.__name__} {value!r}"
        raise WebProductDataError(message) from None


def _compile_bytes(pattern: str, where: str) -> re.Pattern[bytes]:
    try:
        return re.compile(pattern.encode("ascii"), re.IGNORECASE)
    except (re.error, UnicodeEncodeError) as exc:
        raise WebProductDataError(f"{_DATA_FILE}: {where}: bad marker: {exc}") from None


def _compile(pattern: str, where: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise WebProductDataError(f"{_DATA_FILE}: {where}: bad pattern: {exc}") from None


def parse_table(text: str) -> tuple[tuple[ViewerMarkers, ...], tuple[Realm, ...]]:
    """Parse and validate the table's TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WebProductDataError(f"{_DATA_FILE}: {exc}") from None
    found: list[ViewerMarkers] = []
    seen: set[Viewer] = set()
    for index, entry in enumerate(data.get("viewer", [])):
        where = f"viewer #{index + 1}"
        if not isinstance(entry, dict) or set(entry) - _VIEWER_KEYS:
            raise WebProductDataError(f"{_DATA_FILE}: {where}: unknown keys")
        viewer = _member(Viewer, _text(entry, "id", where), where)
        if viewer in seen:
            raise WebProductDataError(f"{_DATA_FILE}: {where}: {viewer} listed twice")
        seen.add(viewer)
        markers = tuple(_compile_bytes(m, where) for m in _strings(entry, "markers", where))
        redirects = tuple(_compile(r, where) for r in _strings(entry, "redirects", where))
        if not markers and not redirects:
            raise WebProductDataError(f"{_DATA_FILE}: {where}: no marker and no redirect")
        product = _member(Product, _text(entry, "product", where), where)
        if VIEWER_PRODUCT[viewer] != product:
            raise WebProductDataError(
                f"{_DATA_FILE}: {where}: {viewer} is {VIEWER_PRODUCT[viewer]}"
            )
        found.append(
            ViewerMarkers(
                viewer=viewer,
                product=product,
                markers=markers,
                redirects=redirects,
                source=_text(entry, "source", where),
            )
        )
    realm_list: list[Realm] = []
    for index, entry in enumerate(data.get("realm", [])):
        where = f"realm #{index + 1}"
        if not isinstance(entry, dict) or set(entry) - _REALM_KEYS:
            raise WebProductDataError(f"{_DATA_FILE}: {where}: unknown keys")
        realm_list.append(
            Realm(
                product=_member(Product, _text(entry, "product", where), where),
                pattern=_compile(_text(entry, "pattern", where), where, re.IGNORECASE),
                source=_text(entry, "source", where),
            )
        )
    return tuple(found), tuple(realm_list)


@cache
def _table() -> tuple[tuple[ViewerMarkers, ...], tuple[Realm, ...]]:
    text = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE).read_text("utf-8")
    return parse_table(text)


def viewers() -> tuple[ViewerMarkers, ...]:
    """The viewers, in the table's order (the first whose marker matches wins)."""
    return _table()[0]


def realms() -> tuple[Realm, ...]:
    return _table()[1]

"""The fingerprint table: ``exposcan/data/fingerprints.toml`` read, validated and cached.

The table is parsed and validated once, lazily, on first use; a malformed table
raises :class:`FingerprintDataError` naming the file and the entry.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from exposcan.fingerprints.matching import (
    KIND_PRODUCT,
    KIND_TOOLKIT,
    FingerprintDB,
    Implementation,
    ProductGuess,
)

__all__ = [
    "FingerprintDataError",
    "default_db",
    "identify",
    "load_fingerprints",
    "parse_fingerprints",
]

_DATA_PACKAGE = "exposcan.data"
_DATA_FILE = "fingerprints.toml"

_UID = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")

_KEYS = frozenset(
    {
        "id",
        "product",
        "kind",
        "toolkit",
        "uid",
        "uid_prefix",
        "uid_version",
        "version_name",
        "name_needs_uid",
        "version_from",
        "hints",
        "source",
        "note",
    }
)


class FingerprintDataError(ValueError):
    """The fingerprint table is malformed; the message names file and entry."""


def parse_fingerprints(text: str, origin: str = "<string>") -> FingerprintDB:
    """Parse and validate a fingerprint table; errors name *origin* and the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FingerprintDataError(f"{origin}: invalid TOML: {exc}") from None
    unknown = set(data) - {"implementation"}
    if unknown:
        raise FingerprintDataError(f"{origin}: unknown top-level keys: {sorted(unknown)}")
    raw = data.get("implementation", [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise FingerprintDataError(f"{origin}: 'implementation' must be an array of tables")
    entries: list[Implementation] = []
    seen_ids: set[str] = set()
    seen_uids: dict[str, str] = {}
    for index, item in enumerate(raw, start=1):
        label = f"{origin}: implementation #{index}"
        if isinstance(item.get("id"), str):
            label += f" ({item['id']})"
        entry = _entry(item, label)
        if entry.id in seen_ids:
            raise FingerprintDataError(f"{label}: duplicate id")
        seen_ids.add(entry.id)
        for uid in entry.uids:
            if uid in seen_uids:
                raise FingerprintDataError(f"{label}: uid {uid} already in {seen_uids[uid]}")
            seen_uids[uid] = entry.id
        entries.append(entry)
    if not entries:
        raise FingerprintDataError(f"{origin}: no [[implementation]] entries")
    return FingerprintDB(entries)


def load_fingerprints(path: str | Path | None = None) -> FingerprintDB:
    """Load a table from *path*, or the packaged table when *path* is ``None``."""
    if path is None:
        resource = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE)
        return parse_fingerprints(
            resource.read_text(encoding="utf-8"), f"{_DATA_PACKAGE}/{_DATA_FILE}"
        )
    path = Path(path)
    return parse_fingerprints(path.read_text(encoding="utf-8"), str(path))


@cache
def default_db() -> FingerprintDB:
    """The packaged table, loaded and validated once."""
    return load_fingerprints()


def identify(
    implementation_class_uid: str | None,
    implementation_version_name: str | None,
    *,
    extra_hints: Mapping[str, str] | None = None,
) -> ProductGuess | None:
    """Identify a peer from its implementation identity with the packaged table.

    ``extra_hints`` carries evidence from other probes of the same host, e.g.
    ``{"web_product": "Orthanc", "web_version": "1.10.1"}`` from the web probe;
    it can name a product that a toolkit identity hides (Orthanc on DCMTK).
    """
    if not extra_hints:
        return _identify_cached(implementation_class_uid, implementation_version_name)
    return default_db().identify(
        implementation_class_uid, implementation_version_name, extra_hints=extra_hints
    )


@lru_cache(maxsize=1024)
def _identify_cached(
    implementation_class_uid: str | None, implementation_version_name: str | None
) -> ProductGuess | None:
    # A scan meets a few identities thousands of times; the guess is frozen.
    return default_db().identify(implementation_class_uid, implementation_version_name)


def _entry(item: dict[str, Any], label: str) -> Implementation:
    def fail(problem: str) -> FingerprintDataError:
        return FingerprintDataError(f"{label}: {problem}")

    unknown = set(item) - _KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")

    def text(key: str) -> str | None:
        value = item.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise fail(f"'{key}' must be a non-empty string")
        return value

    def required(key: str) -> str:
        value = text(key)
        if value is None:
            raise fail(f"missing '{key}'")
        return value

    def strings(key: str) -> list[str]:
        value = item.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(f"'{key}' must be a list of strings")
        return value

    def pattern(key: str, value: str | None) -> re.Pattern[str] | None:
        if value is None:
            return None
        try:
            return re.compile(value)
        except re.error as exc:
            raise fail(f"'{key}' is not a valid regex ({exc})") from None

    entry_id = required("id")
    if not _ID.fullmatch(entry_id):
        raise fail("'id' must be lower-case letters, digits, '.', '_' or '-'")
    product = required("product")
    kind = required("kind")
    source = required("source")
    if kind not in (KIND_TOOLKIT, KIND_PRODUCT):
        raise fail(f"'kind' must be {KIND_TOOLKIT!r} or {KIND_PRODUCT!r}, not {kind!r}")
    toolkit = text("toolkit")
    if toolkit is not None and kind != KIND_PRODUCT:
        raise fail("'toolkit' belongs to product entries only")

    uids = strings("uid")
    for uid in uids:
        if len(uid) > 64 or not _UID.fullmatch(uid):
            raise fail(f"invalid uid {uid!r}")
    prefixes = strings("uid_prefix")
    for prefix in prefixes:
        if not prefix.endswith(".") or len(prefix) > 63 or not _UID.fullmatch(prefix[:-1]):
            raise fail(f"invalid uid_prefix {prefix!r} (a UID root ending with '.')")

    uid_version = pattern("uid_version", text("uid_version"))
    version_name = pattern("version_name", text("version_name"))
    if uid_version is not None and not (uids or prefixes):
        raise fail("'uid_version' needs 'uid' or 'uid_prefix'")
    if uid_version is not None and uid_version.groups == 0:
        raise fail("'uid_version' needs at least one group")

    name_needs_uid = item.get("name_needs_uid", False)
    if not isinstance(name_needs_uid, bool):
        raise fail("'name_needs_uid' must be true or false")
    if name_needs_uid and (version_name is None or not (uids or prefixes)):
        raise fail("'name_needs_uid' needs 'version_name' and 'uid' or 'uid_prefix'")

    raw_hints = item.get("hints", {})
    if not isinstance(raw_hints, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw_hints.items()
    ):
        raise fail("'hints' must be a table of strings")
    hints = tuple((key, pattern(f"hints.{key}", value)) for key, value in raw_hints.items())
    if hints and kind != KIND_PRODUCT:
        raise fail("'hints' belong to product entries only")

    version_from = text("version_from")
    if version_from is not None:
        if version_from == "uid":
            if uid_version is None:
                raise fail("version_from 'uid' needs 'uid_version'")
        elif version_from == "version_name":
            if version_name is None or version_name.groups == 0:
                raise fail("version_from 'version_name' needs a 'version_name' with a group")
        elif not (version_from.startswith("hint:") and len(version_from) > 5):
            raise fail("'version_from' must be 'uid', 'version_name' or 'hint:<key>'")

    if not (uids or prefixes or version_name or hints):
        raise fail("needs at least one of 'uid', 'uid_prefix', 'version_name', 'hints'")

    return Implementation(
        id=entry_id,
        product=product,
        kind=kind,
        toolkit=toolkit,
        uids=frozenset(uids),
        uid_prefixes=tuple(prefixes),
        uid_version=uid_version,
        version_name=version_name,
        name_needs_uid=name_needs_uid,
        version_from=version_from,
        hints=tuple((key, compiled) for key, compiled in hints if compiled is not None),
        source=source,
        note=text("note"),
    )

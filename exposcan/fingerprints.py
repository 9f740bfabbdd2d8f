"""Name the software behind a DICOM peer from its implementation identity.

An A-ASSOCIATE-AC carries an Implementation Class UID and, usually, an
Implementation Version Name (PS3.7 D.3.3.2).  :func:`identify` maps them to a
product or to a toolkit with the table in ``exposcan/data/fingerprints.toml``
(every entry there names its source).

A toolkit is not a product: Orthanc and Horos answer with DCMTK's own identity,
dcm4chee and Dicoogle with dcm4che's.  A match on a toolkit entry therefore
yields ``ProductGuess(product=None, toolkit="DCMTK", ...)`` ("DCMTK-based"), and
a product is named only when the version name, the UID or extra evidence from
another probe (``extra_hints``) identifies one.

Rules, in order: product entries beat toolkit entries; within a kind, a
version-name match beats a UID match, and an exact UID beats a UID root.

The table is parsed and validated once, lazily, on first use; a malformed table
raises :class:`FingerprintDataError` naming the file and the entry.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from exposcan import peertext
from exposcan.vocabulary import Confidence

__all__ = [
    "CONFIDENCE_HIGH",
    "CONFIDENCE_LOW",
    "CONFIDENCE_MEDIUM",
    "FingerprintDB",
    "FingerprintDataError",
    "Implementation",
    "ProductGuess",
    "default_db",
    "identify",
    "load_fingerprints",
    "parse_fingerprints",
]

#: UID and version name agree on one entry.
CONFIDENCE_HIGH: Final = Confidence.HIGH
#: One strong signal: the version name, an exact UID, or hints that agree with
#: the toolkit the peer announced.
CONFIDENCE_MEDIUM: Final = Confidence.MEDIUM
#: A UID root alone, or hints from another probe with no DICOM evidence.
CONFIDENCE_LOW: Final = Confidence.LOW

KIND_TOOLKIT = "toolkit"
KIND_PRODUCT = "product"

_DATA_PACKAGE = "exposcan.data"
_DATA_FILE = "fingerprints.toml"

#: Longer values than this are not DICOM (UI is at most 64 characters, SH 16)
#: and are not matched at all.
_MAX_VALUE_LENGTH = 64
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


@dataclass(frozen=True)
class ProductGuess:
    """What the implementation identity says about the peer's software.

    ``product`` is ``None`` when only a toolkit was recognised.  ``version`` is
    the product's version when a product is named, otherwise the toolkit's.
    ``confidence`` is a :class:`~exposcan.vocabulary.Confidence`; ``source`` is
    the source note of the table entry that decided.
    """

    product: str | None
    toolkit: str | None
    version: str | None
    confidence: Confidence
    source: str


@dataclass(frozen=True)
class Implementation:
    """One validated ``[[implementation]]`` entry."""

    id: str
    product: str
    kind: str
    toolkit: str | None
    uids: frozenset[str]
    uid_prefixes: tuple[str, ...]
    uid_version: re.Pattern[str] | None
    version_name: re.Pattern[str] | None
    name_needs_uid: bool
    version_from: str | None
    hints: tuple[tuple[str, re.Pattern[str]], ...]
    source: str
    note: str | None = None

    def uid_match(self, uid: str | None) -> str | None:
        """``"exact"``, ``"prefix"`` or ``None``."""
        if uid is None:
            return None
        if uid in self.uids:
            return "exact"
        if any(uid.startswith(prefix) or uid == prefix[:-1] for prefix in self.uid_prefixes):
            return "prefix"
        return None

    def name_match(self, name: str | None, uid_kind: str | None) -> re.Match[str] | None:
        if name is None or self.version_name is None:
            return None
        if self.name_needs_uid and uid_kind is None:
            return None
        return self.version_name.fullmatch(name)

    def hints_match(self, hints: Mapping[str, str]) -> bool:
        return bool(self.hints) and all(
            key in hints and pattern.search(hints[key]) is not None for key, pattern in self.hints
        )


@dataclass(frozen=True)
class _Candidate:
    entry: Implementation
    order: int
    uid_kind: str | None
    name: re.Match[str] | None

    @property
    def rank(self) -> tuple[bool, bool, bool, bool, int]:
        return (
            self.entry.kind == KIND_PRODUCT,
            self.name is not None,
            self.uid_kind == "exact",
            self.uid_kind == "prefix",
            -self.order,
        )

    @property
    def confidence(self) -> Confidence:
        if self.name is not None and self.uid_kind is not None:
            return CONFIDENCE_HIGH
        if self.name is not None or self.uid_kind == "exact":
            return CONFIDENCE_MEDIUM
        return CONFIDENCE_LOW


class FingerprintDB:
    """A validated fingerprint table."""

    def __init__(self, entries: Sequence[Implementation]) -> None:
        self._entries = tuple(entries)

    @property
    def entries(self) -> tuple[Implementation, ...]:
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def identify(
        self,
        implementation_class_uid: str | None,
        implementation_version_name: str | None,
        *,
        extra_hints: Mapping[str, str] | None = None,
    ) -> ProductGuess | None:
        """Best guess for this identity, or ``None`` when nothing matches."""
        uid = _clean(implementation_class_uid)
        name = _clean(implementation_version_name)
        hints = dict(extra_hints) if extra_hints else {}
        candidates: list[_Candidate] = []
        for order, entry in enumerate(self._entries):
            uid_kind = entry.uid_match(uid)
            name_match = entry.name_match(name, uid_kind)
            if uid_kind is not None or name_match is not None:
                candidates.append(_Candidate(entry, order, uid_kind, name_match))
        best = max(candidates, key=lambda c: c.rank, default=None)
        if best is not None and best.entry.kind == KIND_PRODUCT:
            toolkits = [c for c in candidates if c.entry.kind == KIND_TOOLKIT]
            matched_toolkit = max(toolkits, key=lambda c: c.rank, default=None)
            return ProductGuess(
                product=best.entry.product,
                toolkit=best.entry.toolkit
                or (matched_toolkit.entry.product if matched_toolkit else None),
                version=_version(best, uid, hints),
                confidence=best.confidence,
                source=best.entry.source,
            )
        hinted = self._from_hints(best, hints) if hints else None
        if hinted is not None:
            return hinted
        if best is None:
            return None
        return ProductGuess(
            product=None,
            toolkit=best.entry.product,
            version=_version(best, uid, hints),
            confidence=best.confidence,
            source=best.entry.source,
        )

    def _from_hints(
        self, toolkit: _Candidate | None, hints: Mapping[str, str]
    ) -> ProductGuess | None:
        """A product named by other probes, if it fits the toolkit seen on the wire."""
        toolkit_name = toolkit.entry.product if toolkit is not None else None
        for order, entry in enumerate(self._entries):
            if entry.kind != KIND_PRODUCT or not entry.hints_match(hints):
                continue
            if toolkit_name is not None and entry.toolkit not in (None, toolkit_name):
                continue  # the wire says another toolkit: the hint is about something else
            candidate = _Candidate(entry, order, None, None)
            return ProductGuess(
                product=entry.product,
                toolkit=toolkit_name or entry.toolkit,
                version=_version(candidate, None, hints),
                confidence=CONFIDENCE_MEDIUM if toolkit is not None else CONFIDENCE_LOW,
                source=entry.source,
            )
        return None


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip(" \x00")
    if not value or len(value) > _MAX_VALUE_LENGTH:
        return None
    return value


def _joined(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    parts = [part for part in match.groups() if part]
    return ".".join(parts) if parts else None


def _version(candidate: _Candidate, uid: str | None, hints: Mapping[str, str]) -> str | None:
    entry = candidate.entry

    def from_uid() -> str | None:
        if uid is None or candidate.uid_kind is None or entry.uid_version is None:
            return None
        return _joined(entry.uid_version.fullmatch(uid))

    def from_name() -> str | None:
        return _joined(candidate.name)

    def from_hint(key: str) -> str | None:
        return peertext.version(hints.get(key, "").strip())

    order = entry.version_from or "uid"
    if order.startswith("hint:"):
        getters = [lambda: from_hint(order[5:]), from_uid, from_name]
    elif order == "version_name":
        getters = [from_name, from_uid]
    else:
        getters = [from_uid, from_name]
    for getter in getters:
        # Groups of the table's patterns may span any script (``\w``): a version that
        # is not an ASCII version (it ends up in reports) is not one.
        version = peertext.version(getter())
        if version is not None:
            return version
    return None


# --- loading and validation -------------------------------------------------


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

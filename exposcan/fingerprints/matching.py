"""Matching an implementation identity against a validated fingerprint table.

An A-ASSOCIATE-AC carries an Implementation Class UID and, usually, an
Implementation Version Name (PS3.7 D.3.3.2). Rules, in order: product entries
beat toolkit entries; within a kind, a version-name match beats a UID match, and
an exact UID beats a UID root. A toolkit match names no product unless the
version name, the UID or another probe's hints (``extra_hints``) do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from exposcan import peertext
from exposcan.vocabulary import Confidence

__all__ = [
    "CONFIDENCE_HIGH",
    "CONFIDENCE_LOW",
    "CONFIDENCE_MEDIUM",
    "KIND_PRODUCT",
    "KIND_TOOLKIT",
    "FingerprintDB",
    "Implementation",
    "ProductGuess",
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

#: Longer values than this are not DICOM (UI is at most 64 characters, SH 16)
#: and are not matched at all.
_MAX_VALUE_LENGTH = 64


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

"""Typed values from a decoded JSON record: the checks a report's values pass before a
result is built from them (:meth:`exposcan.results.EndpointResult.from_dict`).

A report is input someone may have edited, cut or replaced, so nothing in it is taken on
trust: every field is checked against the type its dataclass declares (``str``, ``int``,
``float``, ``bool``, a str enum, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``, a
nested result), with the ranges the results can hold (every integer is a count, a port
or a size; a float is a duration), and anything else is a :class:`RecordError` naming the
field, never another exception. Text is not cleaned here: the dataclass constructors do that
(:mod:`exposcan.peertext`), so a record read back holds what a record built by a probe
would. Keys a record holds beyond its fields (``"record"``, the derived ``"severity"``)
are ignored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import math
import re
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, TypeVar

__all__ = [
    "FINDING_ID",
    "RecordError",
    "build",
    "check_address",
    "check_port",
    "is_address",
    "is_finding_id",
    "show",
]

T = TypeVar("T")

#: What a finding id looks like: lower-case words and dots, as tools key on it.
FINDING_ID: Final = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
#: Every integer a result holds is a count, a port or a size.
_INT_MAX: Final = (1 << 63) - 1


class RecordError(ValueError):
    """A record's field that a result cannot hold: ``str(exc)`` is ``"<field>: <reason>"``."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


def show(value: object) -> str:
    """A value from a file, for a message: ``repr`` (escapes controls), at most 40 characters."""
    text = repr(value)
    if len(text) <= 40:
        return text
    if isinstance(value, str):
        # Cut the text, not its repr, so the quotes stay balanced (escapes make a
        # repr longer than its text: shorten until it fits).
        keep = 36
        while keep > 0:
            cut = repr(value[:keep])
            if len(cut) + 3 <= 40:
                return cut[:-1] + "..." + cut[-1]
            keep -= max(1, keep // 4)
    return text[:37] + "..."


def is_address(value: object) -> bool:
    """An IP address as text (the engine names every endpoint by one). An IPv6 scope
    (``fe80::1%eth0``) may be any text to :mod:`ipaddress`: here it must be printable."""
    if not isinstance(value, str) or len(value) > 64 or not value.isprintable() or " " in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_finding_id(value: object) -> bool:
    return isinstance(value, str) and FINDING_ID.fullmatch(value) is not None


def check_address(value: object, where: str = "host") -> str:
    if not is_address(value):
        raise RecordError(where, f"{show(value)} is not an address")
    assert isinstance(value, str)
    return value


def check_port(value: object, where: str = "port") -> int:
    if type(value) is not int or not 1 <= value <= 65535:
        raise RecordError(where, f"{show(value)} is not a port number")
    return value


def build(cls: type[T], data: object, where: str = "") -> T:
    """An instance of the dataclass ``cls`` from the mapping ``data``, every field checked
    against its declared type; a field missing from ``data`` takes its default."""
    if not isinstance(data, Mapping):
        raise RecordError(where, f"{show(data)} is not an object")
    check = getattr(cls, "_check_record", None)
    if check is not None:  # the class's own rules (an endpoint's host is an address)
        check(data, where)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not item.init:
            continue
        inner = f"{where}.{item.name}" if where else item.name
        if item.name not in data:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise RecordError(inner, "missing")
            continue
        values[item.name] = _value(hints[item.name], data[item.name], inner)
    try:
        return cls(**values)
    except RecordError:
        raise
    except (ValueError, KeyError) as exc:  # a rule of the constructor's own
        raise RecordError(where, f"not a {cls.__name__}: {show(str(exc))}") from None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _value(kind: Any, value: object, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is types.UnionType or origin is typing.Union:
        options = typing.get_args(kind)
        present = [o for o in options if o is not type(None)]
        if len(present) != 1:  # X | None only: a bug, not bad input
            raise TypeError(f"{where}: cannot read a field of type {kind}")
        if value is None and len(options) == 2:
            return None
        return _value(present[0], value, where)
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{where}: cannot read a field of type {kind}")
        if type(value) is not list and type(value) is not tuple:
            raise RecordError(where, f"{show(value)} is not a list")
        return tuple(_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        key_kind, item_kind = typing.get_args(kind)
        if type(value) is not dict:
            raise RecordError(where, f"{show(value)} is not an object")
        return {
            _plain(key_kind, k, where): _value(item_kind, v, f"{where}[{show(k)}]")
            for k, v in value.items()
        }
    if isinstance(kind, type):
        return _plain(kind, value, where)
    raise TypeError(f"{where}: cannot read a field of type {kind}")  # a bug, not bad input


def _words(kind: type[StrEnum]) -> str:
    """What a field of this vocabulary may hold. Iterating :class:`~exposcan.vocabulary.Protocol`
    gives its built-in members only; its ``known()`` adds every protocol a registered probe
    declared (:class:`~exposcan.probes.registry.Registration` declares them as it is made),
    which is exactly what the lookup accepts. Asked of the enum, not the registry: this
    module sits below the registry (a result's fields are read here) and imports no I/O."""
    known = getattr(kind, "known", None)
    members = known() if callable(known) else kind
    return ", ".join(str(m) for m in members)


def _plain(kind: type, value: object, where: str) -> Any:
    if issubclass(kind, StrEnum):
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # the enum's lookup: declared protocols too
                return kind(value)
        raise RecordError(where, f"{show(value)} is not one of {_words(kind)}")
    if kind is bool:
        if type(value) is bool:
            return value
        raise RecordError(where, f"{show(value)} is not true or false")
    if kind is int:
        if type(value) is int and 0 <= value <= _INT_MAX:
            return value
        raise RecordError(where, f"{show(value)} is not a count")
    if kind is float:
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        ):
            return float(value)
        raise RecordError(where, f"{show(value)} is not a duration")
    if kind is str:
        if isinstance(value, str):
            return str(value)
        raise RecordError(where, f"{show(value)} is not text")
    if dataclasses.is_dataclass(kind):
        return build(kind, value, where)
    raise TypeError(f"{where}: cannot read a field of type {kind.__name__}")

"""Called AE titles: the stock list, user lists and random probe titles.

A server that checks the called AE title refuses an association whose title it
does not serve.  exposcan then tries, within a small budget, the titles that
DICOM servers ship with (``exposcan/data/ae_titles.toml``, every entry with its
source, most likely first) after any the user supplied with ``--ae-titles``.
When the first title is accepted, one association with a random title tells
whether the server checks titles at all.

User files are either the packaged TOML shape (``[[title]]`` tables with
``value`` and optional ``product``, ``source``, ``role``; ``[[port]]`` tables are
checked there too, and used from the packaged file only) or plain text, one
title per line, blank lines and lines starting with ``#`` ignored.  Every title
is validated (PS3.5 Table 6.2-1, AE: 1 to 16 characters of the default
repertoire, no backslash, not all spaces; surrounding spaces are not
significant and are dropped); a bad one raises :class:`~exposcan.errors.OptionError`
with one line naming the file and the line.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import string
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from exposcan.errors import OptionError
from exposcan.files import FileProblem, read_regular, show_path

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TITLES",
    "RANDOM_TITLE_ALPHABET",
    "PortHint",
    "StockTitle",
    "ae_title_problem",
    "load_ae_titles",
    "parse_ae_titles",
    "random_ae_title",
    "stock_ports",
    "stock_titles",
]

#: A user file larger than this is refused before it is parsed.
MAX_FILE_BYTES = 1 << 20
#: At most this many titles in a user file (each may cost an association).
MAX_TITLES = 4096
RANDOM_TITLE_ALPHABET = string.ascii_uppercase + string.digits
_RANDOM_TITLE_LENGTH = 16

_DATA_PACKAGE = "exposcan.data"
_DATA_FILE = "ae_titles.toml"
_TITLE_KEYS = frozenset({"value", "product", "source", "role"})
_PORT_KEYS = frozenset({"number", "products", "source"})
_TOML_HEADER = re.compile(r"\s*\[\[\s*title\s*\]\]")
_VALUE_LINE = re.compile(r"\s*value\s*=")
_TOML_ERROR_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class StockTitle:
    """A called AE title to try, and why it is on the list."""

    value: str
    product: str
    source: str
    role: str


@dataclass(frozen=True)
class PortHint:
    """A port and the products it is known for (a ``[[port]]`` table, with its source)."""

    port: int
    #: Matched, case-insensitively, inside a title's ``product``; none for a generic port.
    products: tuple[str, ...]
    source: str


def ae_title_problem(value: str) -> str | None:
    """Why *value* (already stripped) is not a valid AE title, or ``None``."""
    if not value.strip():
        return "empty AE title"
    if len(value) > 16:
        return f"AE title longer than 16 characters: {_show(value)}"
    if any(not " " <= ch <= "~" for ch in value):
        return f"AE title has a character outside printable ASCII: {_show(value)}"
    if "\\" in value:
        return f"AE title contains a backslash: {_show(value)}"
    return None


@cache
def stock_titles() -> tuple[StockTitle, ...]:
    """The packaged stock titles, deduplicated by value, most likely first."""
    resource = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE)
    origin = f"{_DATA_PACKAGE}/{_DATA_FILE}"
    return _parse_toml(resource.read_text(encoding="utf-8"), origin, packaged=True)


@cache
def stock_ports() -> dict[int, tuple[str, ...]]:
    """The packaged ``[[port]]`` tables: the products each port is known for, by port
    (their titles are tried first there: :func:`exposcan.probes.aetitle_order.order_titles`)."""
    resource = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE)
    text = resource.read_text(encoding="utf-8")
    hints = _parse_ports(tomllib.loads(text), text.splitlines(), f"{_DATA_PACKAGE}/{_DATA_FILE}")
    return {hint.port: hint.products for hint in hints}


def load_ae_titles(path: str | os.PathLike[str]) -> tuple[StockTitle, ...]:
    """Read a user list of called AE titles (TOML or plain text), validated."""
    shown = show_path(path)
    try:  # a regular file only: a FIFO or a device would block or never end
        data = read_regular(path, limit=MAX_FILE_BYTES)
    except FileProblem as exc:
        raise OptionError(f"{shown}: cannot read AE title file: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise OptionError(f"{shown}: line {line}: not UTF-8 text") from None
    return parse_ae_titles(text, shown, toml=_looks_like_toml(Path(path), text))


def parse_ae_titles(text: str, origin: str, *, toml: bool) -> tuple[StockTitle, ...]:
    """Parse a user list given as text; *origin* names it in error messages."""
    titles = _parse_toml(text, origin, packaged=False) if toml else _parse_lines(text, origin)
    if not titles:
        raise OptionError(f"{origin}: no AE titles in the file")
    return titles


def random_ae_title(rng: random.Random | None = None) -> str:
    """16 random upper-case letters and digits: a title no server serves by design.

    An association accepted with it means the server does not check called AE
    titles.  The default generator is the operating system's (``secrets``).
    """
    if rng is not None:
        return "".join(rng.choice(RANDOM_TITLE_ALPHABET) for _ in range(_RANDOM_TITLE_LENGTH))
    # One draw from the OS for the whole title, not a system call per character (every
    # endpoint draws one); 128 bits over 36**16 (about 2**83) leave no bias worth a name.
    value = secrets.randbits(128)
    base = len(RANDOM_TITLE_ALPHABET)
    letters = []
    for _ in range(_RANDOM_TITLE_LENGTH):
        value, digit = divmod(value, base)
        letters.append(RANDOM_TITLE_ALPHABET[digit])
    return "".join(letters)


# --- parsing ----------------------------------------------------------------


def _looks_like_toml(path: Path, text: str) -> bool:
    if path.suffix.lower() == ".toml":
        return True
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return _TOML_HEADER.match(stripped) is not None
    return False


def _parse_lines(text: str, origin: str) -> tuple[StockTitle, ...]:
    titles: dict[str, StockTitle] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        problem = ae_title_problem(value)
        if problem is not None:
            raise OptionError(f"{origin}: line {number}: {problem}")
        if value not in titles:
            if len(titles) == MAX_TITLES:
                raise OptionError(f"{origin}: line {number}: more than {MAX_TITLES} AE titles")
            titles[value] = StockTitle(value, "user", f"{origin}:{number}", "user list")
    return tuple(titles.values())


def _parse_toml(text: str, origin: str, *, packaged: bool) -> tuple[StockTitle, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_ERROR_LINE.search(str(exc))
        where = f"line {found.group(1)}: " if found else ""
        message = str(exc).split(" (at line")[0]
        raise OptionError(f"{origin}: {where}invalid TOML: {message}") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise OptionError(f"{origin}: invalid TOML: nested too deeply") from None
    lines = text.splitlines()
    headers = [n for n, line in enumerate(lines, start=1) if _TOML_HEADER.match(line)]
    unknown = sorted(set(data) - {"title", "port"})
    if unknown:
        raise OptionError(
            f"{origin}: line {_key_line(lines, unknown[0])}: unknown key {unknown[0]!r}"
        )
    _parse_ports(data, lines, origin)  # checked in every file, used from the packaged one
    raw = data.get("title", [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise OptionError(
            f"{origin}: line {_key_line(lines, 'title')}: 'title' must be [[title]] tables"
        )
    titles: dict[str, StockTitle] = {}
    for index, item in enumerate(raw):
        line = _entry_line(lines, headers, index, item)
        title = _toml_entry(item, f"{origin}: line {line}", f"{origin}:{line}", packaged)
        if title.value not in titles:
            if len(titles) == MAX_TITLES:
                raise OptionError(f"{origin}: line {line}: more than {MAX_TITLES} AE titles")
            titles[title.value] = title
    return tuple(titles.values())


def _parse_ports(data: dict[str, Any], lines: list[str], origin: str) -> tuple[PortHint, ...]:
    raw = data.get("port", [])
    where = f"{origin}: line {_key_line(lines, 'port')}"
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise OptionError(f"{where}: 'port' must be [[port]] tables")
    hints: dict[int, PortHint] = {}
    for item in raw:
        unknown = sorted(set(item) - _PORT_KEYS)
        if unknown:
            raise OptionError(f"{where}: unknown key {unknown[0]!r} in [[port]]")
        number, products, source = item.get("number"), item.get("products"), item.get("source")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            raise OptionError(f"{where}: [[port]] needs a 'number' from 1 to 65535")
        if not isinstance(products, list) or not all(
            isinstance(p, str) and p.strip() for p in products
        ):
            raise OptionError(f"{where}: [[port]] {number}: 'products' must be a list of names")
        if not isinstance(source, str) or not source.strip():
            raise OptionError(f"{where}: [[port]] {number}: needs a 'source'")
        if number in hints:
            raise OptionError(f"{where}: [[port]] {number} appears twice")
        hints[number] = PortHint(number, tuple(products), source)
    return tuple(hints.values())


def _toml_entry(
    item: dict[str, Any], where: str, default_source: str, packaged: bool
) -> StockTitle:
    unknown = sorted(set(item) - _TITLE_KEYS)
    if unknown:
        raise OptionError(f"{where}: unknown key {unknown[0]!r} in [[title]]")
    value = item.get("value")
    if not isinstance(value, str):
        raise OptionError(f"{where}: [[title]] needs a string 'value'")
    value = value.strip()
    problem = ae_title_problem(value)
    if problem is not None:
        raise OptionError(f"{where}: {problem}")
    fields: dict[str, str] = {}
    for key, default in (("product", "user"), ("source", default_source), ("role", "user list")):
        field = item.get(key)
        if field is None:
            if packaged:
                raise OptionError(f"{where}: packaged [[title]] {value!r} needs '{key}'")
            field = default
        if not isinstance(field, str) or not field.strip():
            raise OptionError(f"{where}: '{key}' must be a non-empty string")
        fields[key] = field
    return StockTitle(value, fields["product"], fields["source"], fields["role"])


def _entry_line(lines: list[str], headers: list[int], index: int, item: dict[str, Any]) -> int:
    """The line of entry *index*'s ``value`` (or of its header) for error messages."""
    if index < len(headers):
        start = headers[index]
        end = headers[index + 1] if index + 1 < len(headers) else len(lines) + 1
        for number in range(start + 1, end):
            if _VALUE_LINE.match(lines[number - 1]):
                return number
        return start
    value = item.get("value")
    if isinstance(value, str) and value:
        for number, line in enumerate(lines, start=1):
            if value in line:
                return number
    return headers[-1] if headers else 1


def _key_line(lines: list[str], key: str) -> int:
    pattern = re.compile(rf"\s*\[*\s*{re.escape(key)}\b")
    return next((n for n, line in enumerate(lines, start=1) if pattern.match(line)), 1)


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")

"""Resuming a scan from its own JSONL report.

The report is the source of truth: endpoints with a record are finished and
are not probed again; the rest are. A resume must be the same scan: the scope
digest, the ports and the probe options in the header must match, otherwise
it is refused (a different scope would make "finished" mean something else).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from exposcan.engine import SkipKey, skip_key
from exposcan.errors import OutputError
from exposcan.summary import SummaryBuilder

#: Options that change what a finished endpoint means; the rest (rates,
#: concurrency) may differ between the first run and the resume.
_SAME = (
    "ports",
    "called_ae_title",
    "calling_ae_title",
    "find",
    "max_matches",
    "tls_ports",
    "try_default_credentials",
)


@dataclass
class ResumeState:
    path: str
    header: dict[str, Any]
    #: (host, port, kind): see :func:`exposcan.engine.skip_key`
    finished: set[SkipKey] = field(default_factory=set)
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Bytes of whole lines; a torn last line beyond this is cut before appending.
    good_bytes: int = 0


def load_resume(path: str | os.PathLike[str], header: dict[str, Any]) -> ResumeState:
    """Read a report to resume; check it belongs to the scan ``header`` describes."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            data = stream.read()
    except FileNotFoundError:
        raise OutputError(f"cannot resume: {name} does not exist") from None
    except OSError as exc:
        raise OutputError(f"cannot resume from {name}: {exc.strerror}") from None
    state: ResumeState | None = None
    offset = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        end = offset + len(line) + 1
        if end > len(data):  # no newline: a torn last line (or nothing)
            break
        offset = end
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise OutputError(f"cannot resume: {name} line {number} is not JSON") from None
        kind = record.get("record")
        if state is None:
            if kind != "scan":
                raise OutputError(f"cannot resume: {name} does not start with a scan record")
            _check_same_scan(name, record, header)
            state = ResumeState(path=name, header=record)
        elif kind == "endpoint":
            protocol = str(record.get("protocol", "dimse"))
            state.finished.add(skip_key(str(record["host"]), int(record["port"]), protocol))
            state.records.append(record)
        state.good_bytes = offset
    if state is None:
        raise OutputError(f"cannot resume: {name} holds no scan record")
    return state


def _check_same_scan(name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    new = json.loads(json.dumps(new))  # compare as the report holds it (lists, not tuples)
    old_digest = old.get("scope", {}).get("digest")
    new_digest = new["scope"]["digest"]
    if old_digest != new_digest:
        raise OutputError(
            f"cannot resume {name}: it was made with another scope ({old_digest} ≠ {new_digest})"
        )
    if any(old.get(key) != new[key] for key in ("ports", "web_ports", "targets")):
        raise OutputError(f"cannot resume {name}: its targets or ports differ from this scan's")
    for key in _SAME:
        if old.get("options", {}).get(key) != new["options"].get(key):
            raise OutputError(f"cannot resume {name}: option {key} differs from this scan's")


def count_previous(builder: SummaryBuilder, state: ResumeState) -> None:
    """Seed a summary with the endpoints the earlier run finished."""
    for record in state.records:
        builder.add_counts(
            exposure=str(record["exposure"]),
            status=str(record["status"]),
            findings=[str(f["id"]) for f in record.get("findings", ())],
        )

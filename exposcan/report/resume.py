"""Resuming a scan from its own JSONL report.

The report is the source of truth: endpoints with a record are finished and
are not probed again; the rest are. A resume must be the same scan: the scope
digest, the ports and the probe options in the header must match, otherwise
it is refused (a different scope would make "finished" mean something else). A
registered probe's own port list (``echo_ports``) is compared as ``ports`` is, a header
without it read as one that lists none.

The file is read as data someone may have edited, truncated or replaced:
whole lines only, by the package's one report reader
(:func:`exposcan.report.lines.read_lines`: a torn last line is cut), each
record checked for the fields resuming uses, with their types and ranges, and
every endpoint must belong to this scan. Anything else is one
:class:`~exposcan.errors.OutputError` naming the line; nothing from the file is
echoed except through ``repr``, shortened. :func:`exposcan.read_report` reads the
same records with the same checks (:func:`endpoint_key`, :func:`in_scan`, and the
primitives of :mod:`exposcan.decoding`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from collections.abc import Container
from dataclasses import dataclass, field, replace
from typing import Any

from exposcan.decoding import RecordError, is_address, is_finding_id
from exposcan.decoding import show as _show
from exposcan.errors import OutputError
from exposcan.files import show_path
from exposcan.probe import HostEvidence
from exposcan.probes.registry import PROBES, SkipKey, skip_key
from exposcan.report.lines import UnreadableReport, read_lines
from exposcan.scope.reach import reached_address
from exposcan.summary import SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Status

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
_EXPOSURES = frozenset(str(e) for e in Exposure)
_STATUSES = frozenset(str(s) for s in Status)
#: Records a report may hold after its header (a resumed one: more than one summary).
LATER_RECORDS = frozenset({"endpoint", "evidence", "resume", "summary"})


@dataclass(frozen=True, slots=True)
class Previous:
    """What the summary needs of an endpoint the earlier run finished."""

    exposure: str
    status: str
    findings: tuple[str, ...]


@dataclass
class ResumeState:
    path: str
    header: dict[str, Any]
    #: (host, port, kind): see :func:`exposcan.probes.registry.skip_key`
    finished: set[SkipKey] = field(default_factory=set)
    previous: list[Previous] = field(default_factory=list)
    #: what the earlier runs' probes learnt about other endpoints of their hosts (Orthanc's
    #: /system naming its DICOM port), handed to the engine so verdicts come out the same
    evidence: list[HostEvidence] = field(default_factory=list)
    #: Bytes of whole lines; a torn last line beyond this is cut before appending.
    good_bytes: int = 0


def load_resume(
    path: str | os.PathLike[str],
    header: dict[str, Any],
    *,
    targets: Container[str] | None = None,
) -> ResumeState:
    """Read a report to resume; check it belongs to the scan ``header`` describes.

    ``targets``: the scan's hosts; an endpoint record for any other host is refused.
    """
    name = show_path(path)
    new = json.loads(json.dumps(header))  # compare as the report holds it (lists, not tuples)
    state: ResumeState | None = None
    try:
        with contextlib.closing(read_lines(path)) as lines:
            for line in lines:
                record = line.record
                kind = record.get("record")
                if state is None:
                    if kind != "scan":
                        raise OutputError(
                            f"cannot resume: {name} does not start with a scan record"
                        )
                    _check_same_scan(name, record, new)
                    state = ResumeState(path=os.fspath(path), header=record)
                elif kind == "endpoint":
                    _add_endpoint(state, record, new, targets, f"{name} line {line.number}")
                elif kind == "evidence":
                    _add_evidence(state, record, targets, f"{name} line {line.number}")
                elif not _one_of(kind, LATER_RECORDS):
                    what = "a second scan record" if kind == "scan" else f"record {_show(kind)}"
                    raise OutputError(f"cannot resume: {name} line {line.number} is {what}")
                state.good_bytes = line.end
    except UnreadableReport as exc:
        prefix = "cannot resume from" if exc.about_file else "cannot resume:"
        raise OutputError(f"{prefix} {exc}") from None
    if state is None:
        raise OutputError(f"cannot resume: {name} holds no scan record")
    return state


def _add_endpoint(
    state: ResumeState,
    record: dict[str, Any],
    header: dict[str, Any],
    targets: Container[str] | None,
    where: str,
) -> None:
    host, port, protocol = record.get("host"), record.get("port"), record.get("protocol")
    if not isinstance(host, str) or not is_address(host):
        raise OutputError(f"cannot resume: {where}: host {_show(host)} is not an address")
    if type(port) is not int or not 1 <= port <= 65535:
        raise OutputError(f"cannot resume: {where}: port {_show(port)} is not a port number")
    if not _one_of(protocol, frozenset(map(str, Protocol.known()))):  # registered too
        raise OutputError(f"cannot resume: {where}: unknown protocol {_show(protocol)}")
    key = endpoint_key(host, port, str(protocol))
    if not in_scan(header, key) or (targets is not None and host not in targets):
        raise OutputError(f"cannot resume: {where}: {host} port {port} is not in this scan")
    exposure, status = record.get("exposure"), record.get("status")
    if not _one_of(exposure, _EXPOSURES):
        raise OutputError(f"cannot resume: {where}: unknown exposure {_show(exposure)}")
    if not _one_of(status, _STATUSES):
        raise OutputError(f"cannot resume: {where}: unknown status {_show(status)}")
    findings = record.get("findings", [])
    ids = [f.get("id") for f in findings if isinstance(f, dict)] if type(findings) is list else []
    if type(findings) is not list or len(ids) != len(findings) or not all(map(is_finding_id, ids)):
        raise OutputError(f"cannot resume: {where}: findings are not a list of findings with ids")
    if key in state.finished:  # written twice: counted once
        return
    state.finished.add(key)
    state.previous.append(Previous(str(exposure), str(status), tuple(str(i) for i in ids)))


def _add_evidence(
    state: ResumeState, record: dict[str, Any], targets: Container[str] | None, where: str
) -> None:
    try:
        evidence = evidence_record(record)
    except RecordError as exc:
        raise OutputError(f"cannot resume: {where}: {exc}") from None
    if targets is not None and evidence.host not in targets:
        raise OutputError(
            f"cannot resume: {where}: evidence about {evidence.host} is not in this scan"
        )
    state.evidence.append(evidence)


def evidence_record(record: dict[str, Any]) -> HostEvidence:
    """A report's evidence record as ``--resume`` and :func:`exposcan.read_report` take
    it: every field checked (a :class:`~exposcan.decoding.RecordError` otherwise), the
    host named as the engine names it (:func:`endpoint_key`'s rule)."""
    evidence = HostEvidence.from_dict(record)
    return replace(evidence, host=_canonical(evidence.host))


def _check_same_scan(name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    old_scope = old.get("scope")
    old_digest = old_scope.get("digest") if isinstance(old_scope, dict) else None
    new_digest = new["scope"]["digest"]
    if old_digest != new_digest:
        raise OutputError(
            f"cannot resume {name}: it was made with another scope "
            f"({_show(old_digest)} ≠ {_show(new_digest)})"
        )
    # A grid scan's header has no endpoints_from: .get on both sides. A registered probe's
    # own port list is absent from a header written before it had one: no port, as an
    # empty list.
    own_lists = [name for name in PROBES.port_lists() if name not in ("ports", "web_ports")]
    if any(
        old.get(key) != new.get(key) for key in ("ports", "web_ports", "targets", "endpoints_from")
    ) or any(old.get(name, []) != new.get(name, []) for name in own_lists):
        raise OutputError(
            f"cannot resume {name}: its targets, endpoint list or ports differ from this scan's"
        )
    old_options = old.get("options")
    if not isinstance(old_options, dict):
        old_options = {}
    for key in _SAME:
        if old_options.get(key) != new["options"].get(key):
            raise OutputError(f"cannot resume {name}: option {key} differs from this scan's")


def endpoint_key(host: str, port: int, protocol: str) -> SkipKey:
    """How a report's endpoint is recognised: as the engine names the host
    (``::ffff:127.0.0.1`` is 127.0.0.1, ``0:0::1`` is ::1), or another spelling of a
    finished endpoint would be probed again and counted twice."""
    return skip_key(_canonical(host), port, protocol)


def in_scan(header: dict[str, Any], key: SkipKey) -> bool:
    """Whether the header's scan planned this endpoint's port for this kind of probe."""
    planned = header.get(PROBES.ports_of(key[2])) or ()
    return isinstance(planned, list | tuple) and key[1] in planned


def count_previous(builder: SummaryBuilder, state: ResumeState) -> None:
    """Seed a summary with the endpoints the earlier run finished."""
    for previous in state.previous:
        builder.add_counts(
            exposure=previous.exposure, status=previous.status, findings=list(previous.findings)
        )


def _canonical(host: str) -> str:
    """The address as the scan's targets yield it (the address reached, in ``str`` form)."""
    reached = reached_address(host)
    if reached is None:
        return host
    version, value = reached
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


def _one_of(value: object, words: frozenset[str]) -> bool:
    return isinstance(value, str) and value in words

"""The echo-line toy probe end to end, in a fresh interpreter (registration is for the
process, as a shipped probe's is): registered with its one line, its ports given the way
a user gives them (the scope file's ``echo_ports``, narrowed by
``ScanOptions(more_ports=...)``), prepared and run by :func:`exposcan.prepare`'s plan
against loopback listeners this trial starts into a JSONL report, resumed from it and
read back. Prints what it saw as one JSON object; tests/network/test_toy_probe.py judges
it.

    python -m tests.support.toyprobe.trial REPORT.jsonl
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema

import exposcan
from exposcan import findings
from exposcan.decoding import RecordError
from exposcan.errors import OutputError
from exposcan.lab import free_port
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.registry import PROBES, skip_key
from exposcan.report import FORMATS
from exposcan.report.convert import render
from exposcan.report.jsonl import JsonlWriter
from exposcan.report.resume import load_resume
from exposcan.results import EndpointResult
from exposcan.schema import load_schema
from exposcan.vocabulary import Protocol
from tests.support.toyprobe.registration import PORTS, register_toy

OPTIONS = ScanOptions(
    limits=Limits(rate=50, per_host_rate=50),
    timeouts=Timeouts(connect=1, read=1, release=0.5, endpoint=3),
)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _repeat(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()


async def _mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()  # takes the line, answers nothing
    writer.close()


@contextlib.asynccontextmanager
async def listener(handler: Handler, accepted: list[str], name: str) -> AsyncIterator[int]:
    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(name)
        await handler(reader, writer)

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _schema_errors(schema: dict[str, Any], record: dict[str, Any]) -> list[str]:
    endpoint_only = {**schema, "oneOf": [{"$ref": "#/$defs/endpoint"}]}
    validator = jsonschema.Draft202012Validator(endpoint_only)
    return [error.message for error in validator.iter_errors(record)]


def scope_text(echo_ports: list[int], *, ports: list[int] | None = None) -> str:
    """A scope of 127.0.0.1 whose only ports are the toy's own list (``echo_ports``, the
    key its registration names), or DICOM ``ports`` and no key of the toy's at all."""
    lines = [
        "[authorisation]",
        'owner = "exposcan tests"',
        'reference = "TOY-1"',
        "expires = 2999-12-31",
        "[scope]",
        'include = ["127.0.0.1"]',
        f"ports = {ports or []}",
        "web_ports = []",
    ]
    if echo_ports:
        lines.append(f"echo_ports = {echo_ports}")
    return "\n".join(lines) + "\n"


def _refusal(path: Path, header: dict[str, Any]) -> str | None:
    """Why ``--resume`` refuses the report at ``path`` for the scan ``header`` describes."""
    try:
        load_resume(path, header)
    except OutputError as exc:
        return str(exc)
    return None


async def trial(path: Path) -> dict[str, Any]:
    # The one registration line a new probe adds (a shipped one: in registry.py's table).
    register_toy()
    accepted: list[str] = []
    closed, spare = free_port("127.0.0.1"), free_port("127.0.0.1")
    scope = path.parent / "scope.toml"
    async with contextlib.AsyncExitStack() as stack:
        repeats = await stack.enter_async_context(listener(_repeat, accepted, "repeats"))
        mute = await stack.enter_async_context(listener(_mute, accepted, "mute"))
        ports = (repeats, mute, closed)
        # The public path: the scope file lists the toy's ports under its list's name, and
        # the options narrow that list by the same name (``spare`` is authorised, not asked).
        scope.write_text(scope_text([*ports, spare]), encoding="utf-8")
        plan = await exposcan.prepare(scope, options=replace(OPTIONS, more_ports={PORTS: ports}))
        with path.open("w", encoding="utf-8") as stream:
            summary = await plan.run(JsonlWriter(stream))
        written = await asyncio.to_thread(path.read_text, encoding="utf-8")
        header = json.loads(written.splitlines()[0])
        # --resume reads the report back: every endpoint finished, by the toy's own kind,
        # so the resumed plan probes none of them again (the listeners are still up).
        state = await asyncio.to_thread(load_resume, path, plan.header(), targets=plan.targets)
        again = [result async for result in plan.results(skip=state.finished)]
        resumed_total = plan.total - len(state.finished)
        # The scope's whole list, and a narrower one: neither is the scan the report holds.
        whole = await exposcan.prepare(scope, options=OPTIONS)
        narrower = await exposcan.prepare(
            scope, options=replace(OPTIONS, more_ports={PORTS: (repeats, mute)})
        )
    results = list(exposcan.read_report(path).results)
    # A report written before a probe's own port lists were recorded has no echo_ports
    # key: it resumes a scan that takes none of them, and only such a scan.
    old_scope = path.parent / "old-scope.toml"
    old_scope.write_text(scope_text([], ports=[closed]), encoding="utf-8")
    without = await exposcan.prepare(old_scope, options=OPTIONS)
    new_header = without.header()
    old = _without_key(path.parent / "old.jsonl", new_header)
    # The toy's own report, its header's key cut: the same scope, but the scan takes ports
    # of that list, so the header without it is not this scan's.
    cut = _without_key(path.parent / "cut.jsonl", header)
    ran = {
        "header_ports": {k: header.get(k) for k in ("ports", "web_ports", PORTS)},
        "header_endpoints": header["endpoints"],
        "plan_total": plan.total,
        "plan_port_lists": {k: list(v) for k, v in plan.port_lists.items()},
        "whole_total": whole.total,
        "summary_done": summary.endpoints_done,
        "resume_finished": sorted(list(key) for key in state.finished),
        "resumed_total": resumed_total,
        "resumed_results": len(again),
        "refused_whole": _refusal(path, whole.header()),
        "refused_narrower": _refusal(path, narrower.header()),
        "refused_same": _refusal(path, plan.header()),
        "new_header_list": new_header.get(PORTS),
        "refused_old_header": _refusal(old, new_header),
        "refused_cut_header": _refusal(cut, plan.header()),
        "ports": {"repeats": repeats, "mute": mute, "closed": closed, "spare": spare},
        "accepted": sorted(accepted),
        "results": [r.to_dict() for r in results],
        "kinds": [r.kind for r in PROBES],
        "skip_key": list(skip_key("127.0.0.1", repeats, "echo-line")),
        "header_schema_errors": _header_errors(load_schema(), header),
    }
    return {**ran, **await asyncio.to_thread(_read_back, path, results)}


def _without_key(path: Path, header: dict[str, Any]) -> Path:
    """A report of ``header`` alone, as an exposcan that had no ``echo_ports`` wrote it."""
    path.write_text(json.dumps({k: v for k, v in header.items() if k != PORTS}) + "\n")
    return path


def _header_errors(schema: dict[str, Any], record: dict[str, Any]) -> list[str]:
    scan_only = {**schema, "oneOf": [{"$ref": "#/$defs/scan"}]}
    validator = jsonschema.Draft202012Validator(scan_only)
    return [error.message for error in validator.iter_errors(record)]


def _read_back(path: Path, results: list[EndpointResult]) -> dict[str, Any]:
    """What the report holds, read by exposcan.read_report and checked by the schema."""
    report = exposcan.read_report(path)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    endpoint_records = [r for r in records if r["record"] == "endpoint"]
    schema = load_schema()
    unknown = copy.deepcopy(endpoint_records[0])
    unknown["protocol"] = "echo-lines"
    try:
        EndpointResult.from_dict(unknown)
        unknown_error = None
    except RecordError as exc:
        unknown_error = str(exc)
    ids = [f.id for r in report.results for f in r.findings]
    formats: dict[str, int] = {}
    for fmt in FORMATS:  # every format a report converts to takes the toy's results
        rendered = io.StringIO()
        render(report, fmt, rendered)
        formats[fmt] = len(rendered.getvalue())
        if fmt == "sarif":
            sarif = json.loads(rendered.getvalue())
    return {
        "read_back_equal": list(report.results) == results,
        "read_back_protocol_is_declared": all(
            r.protocol is Protocol("echo-line") for r in report.results
        ),
        "summary_exposure": report.summary.exposure,
        "summary_findings": report.summary.findings,
        "finding_fields_are_the_catalogues": all(
            (f.severity, f.title, f.remediation) == (e.severity, e.title, e.remediation)
            for r in report.results
            for f in r.findings
            if (e := findings.rule(f.id)) is not None
        )
        and all(findings.rule(i) is not None for i in ids),
        "catalogue_tail": list(findings.CATALOGUE)[-2:],
        "catalogue_size": len(findings.CATALOGUE),
        "built_in_size": len(findings.BUILT_IN),
        "page": findings.markdown(),
        "schema_protocols": schema["$defs"]["protocol"]["enum"],
        "schema_errors": [_schema_errors(schema, r) for r in endpoint_records],
        "schema_errors_unknown": _schema_errors(schema, unknown),
        "from_dict_unknown": unknown_error,
        "protocols_known": [str(p) for p in Protocol.known()],
        "enum_members": [str(p) for p in Protocol],
        "formats": formats,
        "sarif_rules": {
            rule["id"]: [rule["shortDescription"]["text"], rule["properties"]["security-severity"]]
            for rule in sarif["runs"][0]["tool"]["driver"]["rules"]
        },
        "sarif_uris": sorted(
            location["physicalLocation"]["artifactLocation"]["uri"]
            for result in sarif["runs"][0]["results"]
            for location in result["locations"]
        ),
        "toy_modules_loaded": sorted(m for m in sys.modules if m.startswith("tests.support.toy")),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(trial(Path(sys.argv[1])))))

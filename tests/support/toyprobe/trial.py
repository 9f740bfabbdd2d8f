"""The echo-line toy probe end to end, in a fresh interpreter (registration is for the
process, as a shipped probe's is): registered with its one line, run by the engine
against three loopback listeners this trial starts, written as a JSONL report and read
back. Prints what it saw as one JSON object; tests/network/test_toy_probe.py judges it.

    python -m tests.support.toyprobe.trial REPORT.jsonl
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import ipaddress
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jsonschema

import exposcan
from exposcan import findings
from exposcan.decoding import RecordError
from exposcan.engine import Engine
from exposcan.identity import new_scan_id
from exposcan.lab import free_port
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.registry import PROBES, Registration, register, skip_key
from exposcan.report import FORMATS
from exposcan.report.convert import render
from exposcan.report.jsonl import JsonlWriter
from exposcan.report.resume import load_resume
from exposcan.results import EndpointResult
from exposcan.schema import load_schema
from exposcan.scope import TargetSet
from exposcan.summary import SummaryBuilder
from exposcan.vocabulary import Protocol
from tests.support import toyprobe

LOOPBACK = int(ipaddress.IPv4Address("127.0.0.1"))
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


async def trial(path: Path) -> dict[str, Any]:
    # The one registration line a new probe adds (a shipped one: in registry.py's table).
    register(
        Registration(
            "echo",
            ports="echo_ports",
            planned="echo-line",
            found={"echo-line"},
            load="tests.support.toyprobe.probe:PROBE",
            findings=toyprobe.FINDINGS,
        )
    )
    accepted: list[str] = []
    closed = free_port("127.0.0.1")
    async with contextlib.AsyncExitStack() as stack:
        repeats = await stack.enter_async_context(listener(_repeat, accepted, "repeats"))
        mute = await stack.enter_async_context(listener(_mute, accepted, "mute"))
        ports = (repeats, mute, closed)
        engine = Engine(
            TargetSet([(LOOPBACK, LOOPBACK + 1)], []),
            (),  # no DICOM port, no web port: the toy's own port list only
            OPTIONS,
            more_ports={"echo_ports": ports},
        )
        started = "2026-12-02T00:00:00.000+00:00"
        header = {
            "record": "scan",
            "scan_id": new_scan_id(),
            "tool": "exposcan",
            "started_at": started,
            "scope": {"digest": "sha256:toy"},  # what --resume compares, with the ports
            "targets": [],
            "options": {},
            "ports": [],
            "web_ports": [],
            "echo_ports": list(ports),
            "endpoints": engine.total,
        }
        builder = SummaryBuilder(started_at=started, total=engine.total)
        results: list[EndpointResult] = []
        since = time.monotonic()
        with path.open("w", encoding="utf-8") as stream:
            writer = JsonlWriter(stream)
            writer.start(header)
            async for result in engine.run():
                results.append(result)
                builder.add(result)
                writer.endpoint(result)
            writer.finish(
                builder.build(
                    finished_at="2026-12-02T00:00:01.000+00:00",
                    duration_s=time.monotonic() - since,
                    interrupted=False,
                    stopped=None,
                )
            )
        # --resume reads the report back: every endpoint finished, by the toy's own kind,
        # so a resumed engine probes none of them again (the listeners are still up).
        state = await asyncio.to_thread(load_resume, path, header)
        resumed = Engine(
            TargetSet([(LOOPBACK, LOOPBACK + 1)], []),
            (),
            OPTIONS,
            more_ports={"echo_ports": ports},
            skip=state.finished,
        )
        again = [result async for result in resumed.run()]
    ran = {
        "resume_finished": sorted(list(key) for key in state.finished),
        "resumed_results": len(again),
        "ports": {"repeats": repeats, "mute": mute, "closed": closed},
        "accepted": sorted(accepted),
        "engine_total": engine.total,
        "results": [r.to_dict() for r in results],
        "kinds": [r.kind for r in PROBES],
        "skip_key": list(skip_key("127.0.0.1", repeats, "echo-line")),
    }
    return {**ran, **await asyncio.to_thread(_read_back, path, results)}


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

"""Third-party warnings and log records go through structlog: stderr stays JSON lines.

The CLI runs as a subprocess (stderr a pipe, not a terminal) and scans a DICOM-TLS peer
whose certificate has a negative serial number (cryptography warns about those). Once
``logs.configure`` has run, the driver also makes the third parties speak as they do
in a scan: cryptography's ``CryptographyDeprecationWarning`` for that certificate, a
``UserWarning`` and a ``ResourceWarning`` quoting a peer's terminal escapes, and asyncio's
logger with an exception. Every stderr line must parse as one JSON object, and no raw
control or bidi character may reach stderr, whatever the renderer.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.support.badcerts import variants
from tests.support.hostile import RELEASE_RP, hostile_peers
from tests.support.pdu import associate_ac, echo_rsp
from tests.support.scope_files import scope_text

DRIVER = r"""
import logging, os, sys, threading, warnings
from cryptography import x509
import exposcan.logs as logs

der = bytes.fromhex(os.environ["EXPOSCAN_TEST_DER"])
original = logs.configure

def configure(**kwargs):
    if os.environ.get("EXPOSCAN_TEST_CONSOLE"):
        kwargs["json"] = False
    original(**kwargs)
    x509.load_der_x509_certificate(der)  # cryptography warns: negative serial number
    warnings.warn("peer said \x1b]0;owned\x07 \u202eevil\u202c \x9b2J", UserWarning)
    warnings.warn("unclosed transport \x1b[2J", ResourceWarning)
    try:
        raise ValueError("\x1b[31mpeer text\r\nfake line")
    except ValueError:
        logging.getLogger("asyncio").error("Task exception \x07 was never retrieved", exc_info=True)

    def dies():
        raise OSError("\x1b[2J thread")

    thread = threading.Thread(target=dies, name="lab-\x1b")
    thread.start()
    thread.join()

    class Finalised:
        def __del__(self):
            raise RuntimeError("\x1b]52;c;clipboard\x07")

    Finalised()  # dropped at once: "Exception ignored in" goes to sys.unraisablehook

logs.configure = configure
from exposcan.cli import main
raise SystemExit(main(sys.argv[1:]))
"""
#: What must never reach stderr raw: C0 controls but newline, C1, bidi controls.
FORBIDDEN = {chr(c) for c in (*range(0x00, 0x0A), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}
FORBIDDEN |= {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
SCRIPT = [
    ("recv",),
    ("send", associate_ac()),
    ("recv",),
    ("send", echo_rsp()),
    ("recv",),
    ("send", RELEASE_RP),
    ("drain",),
]


async def _run_cli(tmp_path: Path, *, console: bool = False) -> tuple[int, str, str]:
    crafted = variants()["negative-serial"]
    async with hostile_peers({"peer": SCRIPT}, tls=crafted.server_context(tmp_path)) as ports:
        port = ports["peer"]
        scope = tmp_path / "scope.toml"
        scope.write_text(scope_text(["127.0.0.1"], [port]), encoding="utf-8")
        env = {**os.environ, "EXPOSCAN_TEST_DER": crafted.der.hex()}
        if console:
            env["EXPOSCAN_TEST_CONSOLE"] = "1"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "default",  # show every warning once: ResourceWarning is hidden otherwise
            "-c",
            DRIVER,
            "scan",
            "--scope",
            str(scope),
            "--timeout",
            "10",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8"), err.decode("utf-8")


async def test_warnings_and_library_logs_are_json_lines(tmp_path):
    code, out, err = await _run_cli(tmp_path)
    assert code == 0, err
    lines = err.splitlines()
    events = [json.loads(line) for line in lines]  # each line one JSON object
    assert all(isinstance(event, dict) for event in events)
    warned = {e["category"] for e in events if e.get("event") == "python_warning"}
    assert {"CryptographyDeprecationWarning", "UserWarning", "ResourceWarning"} <= warned
    assert {"thread_exception", "unraisable_exception"} <= {e["event"] for e in events}
    logged = [e for e in events if e.get("event") == "library_log"]
    assert [e["logger"] for e in logged] == ["asyncio"]
    assert logged[0]["exc_type"] == "ValueError"
    assert not FORBIDDEN & set(err)
    # The peer's escapes are there, escaped: a reader still sees what was sent.
    assert any("\\x1b]0;owned\\x07" in e.get("message", "") for e in events)
    # The scan itself: the peer with the odd certificate answered C-ECHO over TLS.
    report = [json.loads(line) for line in out.splitlines()]
    endpoint = next(r for r in report if r["record"] == "endpoint")
    assert (endpoint["status"], endpoint["exposure"]) == ("success", "echo")
    assert endpoint["protocol"] == "dimse-tls"


async def test_console_rendering_escapes_foreign_text_too(tmp_path):
    code, _, err = await _run_cli(tmp_path, console=True)
    assert code == 0, err
    assert "python_warning" in err
    assert "CryptographyDeprecationWarning" in err
    # The console renderer colours its own output (ESC sequences of its own are
    # expected when it thinks colours are on); the peer's escapes must arrive escaped.
    assert "\x1b]0;owned" not in err
    assert "\u202e" not in err
    assert "\x9b" not in err
    assert "\x07" not in err


LIBRARY = r"""
import asyncio, sys, warnings
import pydicom  # it imports numpy when installed, and numpy adds filters of its own
filters, shown = list(warnings.filters), warnings.showwarning
import exposcan, exposcan.cli, exposcan.logs, exposcan.probes.web
import exposcan.engine as engine
assert warnings.filters == filters, "importing exposcan changed the warning filters"
assert warnings.showwarning is shown, "importing exposcan changed how warnings show"

async def bug(*args, **kwargs):
    raise RuntimeError("a bug in a probe")

engine.probe_endpoint = bug  # the engine logs probe_failed (with its traceback)
report = asyncio.run(exposcan.scan(sys.argv[1]))
assert report.results[0].detail == "internal error: RuntimeError", report.results
"""


async def test_the_library_prints_nothing_and_leaves_warnings_alone(tmp_path):
    """Without ``logs.configure`` (a notebook, a service), structlog's defaults would
    print every event to stdout; the library's loggers stay silent instead."""
    scope = tmp_path / "scope.toml"
    scope.write_text(scope_text(["127.0.0.1"], [9]), encoding="utf-8")  # never probed
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LIBRARY,
        str(scope),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert out == b""
    assert err == b""

"""``--ports-for NAME=LIST``: a registered probe's own port list on the command line.

The echo-line toy (tests/support/toyprobe) is registered in a child process
(:mod:`tests.support.toyprobe.cli`, the CLI a third-party probe's users run); the
listeners live in this test's loop on 127.0.0.1. A name no registered probe takes is
one line and exit 2, with or without the toy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from exposcan.lab import free_port
from tests.support.cli_child import FAST, run

TOY_CLI = ("-m", "tests.support.toyprobe.cli")
PLAIN_CLI = ("-m", "exposcan")


async def child(prefix: tuple[str, ...], *args: str) -> tuple[int, str, str]:
    """The CLI in a child process, waited for in a thread: the listeners keep serving."""
    proc = await asyncio.to_thread(run, *args, prefix=prefix)
    return proc.returncode, proc.stdout, proc.stderr


@contextlib.asynccontextmanager
async def repeater(accepted: list[int]) -> AsyncIterator[int]:
    async def repeat(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.write(await reader.readline())
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(repeat, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def scope(tmp_path: Path, echo_ports: list[int], *, ports: list[int] = ()) -> Path:  # type: ignore[assignment]
    path = tmp_path / "scope.toml"
    path.write_text(
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        'reference = "TOY-CLI-1"\n'
        "expires = 2999-12-31\n"
        "[scope]\n"
        'include = ["127.0.0.1"]\n'
        f"ports = {list(ports)}\n"
        "web_ports = []\n" + (f"echo_ports = {echo_ports}\n" if echo_ports else ""),
        encoding="utf-8",
    )
    return path


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_ports_for_gives_a_registered_probes_own_list_and_resume_compares_it(
    tmp_path: Path,
) -> None:
    accepted_a: list[int] = []
    accepted_b: list[int] = []
    closed = free_port("127.0.0.1")
    report = tmp_path / "toy.jsonl"
    async with repeater(accepted_a) as a, repeater(accepted_b) as b:
        path = scope(tmp_path, [a, b, closed])
        chosen = f"echo_ports={b},{a}"
        words = (
            "scan",
            "--scope",
            str(path),
            "--ports-for",
            chosen,
            *FAST,
            "-q",
            "-o",
            str(report),
        )
        code, _, err = await child(TOY_CLI, *words)
        assert code == 0, err
        header, *rest = records(report)
        assert header["echo_ports"] == sorted([a, b])  # as --ports: sorted, the closed one not
        assert (header["ports"], header["web_ports"], header["endpoints"]) == ([], [], 2)
        assert header["options"]["more_ports"] == {"echo_ports": sorted([a, b])}
        endpoints = [r for r in rest if r["record"] == "endpoint"]
        assert {(r["port"], r["protocol"], r["exposure"]) for r in endpoints} == {
            (a, "echo-line", "echo"),
            (b, "echo-line", "echo"),
        }
        assert (accepted_a, accepted_b) == ([1], [1])
        # The same list again: every endpoint finished, nothing probed.
        code, _, err = await child(TOY_CLI, *words, "--resume")
        assert code == 0, err
        assert (accepted_a, accepted_b) == ([1], [1])
        # Another selection of the toy's list is another scan: refused, one line.
        narrower = [w if w != chosen else f"echo_ports={a}" for w in words]
        code, _, err = await child(TOY_CLI, *narrower, "--resume")
        assert code == 2
        assert err.strip().splitlines() == [
            f"exposcan: error: cannot resume {report}: its targets, endpoint list or ports "
            "differ from this scan's"
        ]
    assert (accepted_a, accepted_b) == ([1], [1])


async def test_a_port_list_no_registered_probe_takes_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    path = scope(tmp_path, [], ports=[free_port("127.0.0.1")])
    base = ("scan", "--scope", str(path), "-q", "-o", str(tmp_path / "r.jsonl"))
    code, out, err = await child(TOY_CLI, *base, "--ports-for", "nope_ports=7")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "exposcan: error: --ports-for: no registered probe takes a port list named "
        "'nope_ports' (port lists: web_ports, ports, echo_ports)"
    ]
    # Without the toy's registration its list is unknown too, on the command line and in
    # the scope file.
    code, out, err = await child(PLAIN_CLI, *base, "--ports-for", "echo_ports=7")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "exposcan: error: --ports-for: no registered probe takes a port list named "
        "'echo_ports' (port lists: web_ports, ports)"
    ]
    keyed = scope(tmp_path, [7])
    code, _, err = await child(PLAIN_CLI, "scan", "--scope", str(keyed), "-q")
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("exposcan: error: unknown key 'echo_ports' in [scope] of scope file")
    assert not (tmp_path / "r.jsonl").exists()  # refused before any output was opened

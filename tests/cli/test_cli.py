"""The command line: user errors are one line and exit 2; scans write the JSONL contract."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from exposcan.lab import free_port
from exposcan.report import read_jsonl
from tests.support.cli_child import run


class QuietListener:
    """A listening socket inside the scope that never accepts: any connection the scanner
    makes waits in its backlog, where :meth:`connections` finds it afterwards."""

    def __init__(self, address: str = "127.0.0.2") -> None:
        self.server = socket.create_server((address, 0), backlog=64)
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while count < 1000:
            try:
                conn, _ = self.server.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1
        return count

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def quiet() -> Iterator[QuietListener]:
    listener = QuietListener()
    yield listener
    listener.close()


def assert_user_error(
    proc: subprocess.CompletedProcess[str], *words: str, listener: QuietListener | None = None
) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("exposcan: error: ")
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert proc.stdout == ""
    if listener is not None:
        assert listener.connections() == 0, "a user error, yet a connection was made"


@pytest.fixture
def scope_file(write_scope, quiet) -> Path:
    """Scope 127.0.0.2 on the quiet listener's port (and 104): a scan would reach it."""
    return write_scope(["127.0.0.2"], [quiet.port, 104])


def test_missing_scope_file(tmp_path):
    assert_user_error(run("scan", "--scope", str(tmp_path / "nope.toml")), "nope.toml")


def test_malformed_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[scope\ninclude = [", encoding="utf-8")
    assert_user_error(run("scan", "--scope", str(path)), "bad.toml")


def test_bad_cidr(write_scope):
    assert_user_error(
        run("scan", "--scope", str(write_scope(["10.0.0.0/33"], [104]))), "10.0.0.0/33"
    )


def test_expired_authorisation(write_scope, quiet):
    path = write_scope(["127.0.0.2"], [quiet.port], expires=date.today() - timedelta(days=1))
    assert_user_error(run("scan", "--scope", str(path)), "expired", listener=quiet)


def test_missing_authorisation(tmp_path):
    path = tmp_path / "noauth.toml"
    path.write_text('[scope]\ninclude = ["127.0.0.2"]\n', encoding="utf-8")
    assert_user_error(run("scan", "--scope", str(path)), "authorisation")


def test_target_out_of_scope(scope_file, quiet):
    assert_user_error(
        run("scan", "127.0.0.2", "127.0.0.3", "--scope", str(scope_file)),
        "127.0.0.3",
        listener=quiet,
    )


def test_bad_port_list(scope_file, quiet):
    proc = run("scan", "--scope", str(scope_file), "--ports", f"{quiet.port},abc")
    assert_user_error(proc, "abc", "--ports", listener=quiet)


def test_port_not_in_scope(scope_file, quiet):
    proc = run("scan", "--scope", str(scope_file), "--ports", f"{quiet.port},8080")
    assert_user_error(proc, "8080", listener=quiet)


def test_non_numeric_rate(scope_file, quiet):
    proc = run("scan", "--scope", str(scope_file), "--rate", "fast")
    assert_user_error(proc, "fast", "--rate", listener=quiet)


def test_unwritable_output(scope_file, quiet, tmp_path):
    out = tmp_path / "missing-dir" / "report.jsonl"
    proc = run("scan", "--scope", str(scope_file), "--output", str(out))
    assert_user_error(proc, "report.jsonl", listener=quiet)


def test_unknown_option(scope_file, quiet):
    proc = run("scan", "--scope", str(scope_file), "--frobnicate")
    assert_user_error(proc, "frobnicate", listener=quiet)


def test_out_of_scope_target_gets_no_packet(tmp_path, write_scope):
    """A listener on 127.0.0.1 sees nothing when the scope only holds 127.0.0.2."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        port = server.getsockname()[1]
        scope = write_scope(["127.0.0.2"], [port])
        assert_user_error(run("scan", "127.0.0.1", "--scope", str(scope)), "127.0.0.1")
        with pytest.raises(TimeoutError):
            server.accept()


def test_scan_writes_the_jsonl_contract(scp_factory, write_scope, tmp_path):
    open_port = scp_factory("OPEN")
    closed = free_port()
    scope = write_scope(["127.0.0.1"], [open_port, closed])
    out = tmp_path / "report.jsonl"
    proc = run("scan", "--scope", str(scope), "--output", str(out), "--timeout", "5")
    assert proc.returncode == 0, proc.stderr
    records = list(read_jsonl(out))
    assert [r["record"] for r in records] == ["scan", "endpoint", "endpoint", "summary"]
    header, *endpoints, summary = records
    assert header["scope"]["digest"].startswith("sha256:")
    assert header["ports"] == [open_port, closed] or sorted(header["ports"]) == sorted(
        [open_port, closed]
    )
    required = {
        "host",
        "port",
        "protocol",
        "status",
        "exposure",
        "severity",
        "ae_title",
        "findings",
        "fingerprint",
        "services",
        "matches",
        "tls",
        "duration_s",
    }
    for endpoint in endpoints:
        assert required <= endpoint.keys()
    by_port = {e["port"]: e for e in endpoints}
    assert by_port[open_port]["exposure"] == "echo"
    # A random called title carried the probe and got in: any title does.
    assert by_port[open_port]["ae_title"] == "(any)"
    assert by_port[open_port]["attempts"] == 1
    assert by_port[closed]["status"] == "connection-refused"
    assert summary["exposure"]["echo"] == 1
    assert summary["endpoints_done"] == 2


def test_scan_to_stdout_as_json(scp_factory, write_scope):
    port = scp_factory("OPEN")
    proc = run("scan", "--scope", str(write_scope(["127.0.0.1"], [port])), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["endpoints"][0]["exposure"] == "echo"
    assert document["summary"]["exposed"] == 1


@pytest.fixture(scope="module")
def demo() -> Iterator[subprocess.CompletedProcess[str]]:
    """One `exposcan demo --keep` run (a few seconds) for the tests that read it; its
    folder is removed afterwards."""
    proc = run("demo", "--keep", timeout=120)
    yield proc
    if "JSONL report: " in proc.stdout:
        report = Path(proc.stdout.split("JSONL report: ", 1)[1].split()[0])
        shutil.rmtree(report.parent, ignore_errors=True)


def test_demo_shows_every_exposure_level(demo):
    proc = demo
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith("127.0.0.1:")]
    levels = sorted(row[2] for row in rows)
    assert levels == ["echo", "none", "protected", "query", "query", "store"]


class SilentPeer:
    """Accepts one connection on 127.0.0.1 and never answers; keeps every byte it receives
    until the client closes (``ended``: "eof" or "reset"). Its thread ends within 30 s."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(20)
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self.ended: str | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            try:
                while chunk := conn.recv(4096):
                    with self._lock:
                        self.received += chunk
                self.ended = "eof"
            except ConnectionResetError:
                self.ended = "reset"
            except OSError:
                self.ended = "timeout"

    def data(self) -> bytes:
        with self._lock:
            return bytes(self.received)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        self.server.close()
        self._thread.join(timeout=2)


def whole_pdu(data: bytes) -> int:
    """Length of the first PDU in ``data`` if it is all there, else 0 (PS3.8 §9.3.1)."""
    if len(data) < 6:
        return 0
    length = 6 + int.from_bytes(data[2:6], "big")
    return length if len(data) >= length else 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_aborts_in_flight_association_writes_summary_and_exits(
    signum, code, tmp_path, write_scope
):
    """SIGINT/SIGTERM while a peer sits on our A-ASSOCIATE-RQ: the association is aborted
    politely (an A-ABORT PDU reaches the peer before the connection closes), the summary
    record is written, and the exit code says which signal."""
    peer = SilentPeer()
    try:
        scope = write_scope(["127.0.0.1"], [peer.port])
        out = tmp_path / "report.jsonl"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exposcan",
                "scan",
                "--scope",
                str(scope),
                "-o",
                str(out),
                "--timeout",
                "30",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not whole_pdu(peer.data()):
            time.sleep(0.02)
        request = whole_pdu(peer.data())
        assert request, "the A-ASSOCIATE-RQ never arrived"
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=20)
        peer.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        peer.close()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    data = peer.data()
    assert data[0] == 0x01  # A-ASSOCIATE-RQ
    abort = data[request:]
    # PS3.8 Table 9-26: type 07, length 4, reserved x2, source 0 (service-user), reason 0.
    assert abort[:1] == b"\x07", data[request:].hex()
    assert abort == b"\x07\x00\x00\x00\x00\x04\x00\x00\x00\x00", abort.hex()
    assert peer.ended == "eof"  # then closed, after the A-ABORT
    records = list(read_jsonl(out))
    assert records[0]["record"] == "scan"
    assert records[-1]["record"] == "summary"
    assert records[-1]["interrupted"] is True


def test_empty_scope(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text(
        '[authorisation]\nowner = "o"\nreference = "r"\nexpires = 2999-01-01\n'
        "[scope]\ninclude = []\n",
        encoding="utf-8",
    )
    assert_user_error(run("scan", "--scope", str(path)), "empty.toml")


def test_large_scope_needs_allow_large(write_scope, quiet):
    """127.0.0.0/8 holds the quiet listener's address: refusing must not touch it."""
    scope = write_scope(["127.0.0.0/8"], [quiet.port])
    assert_user_error(
        run("scan", "--scope", str(scope)), "--allow-large", "16,777,216", listener=quiet
    )


def test_large_scope_with_allow_large_is_planned_not_refused():
    """prepare() accepts it with allow_large; nothing is sent by preparing."""
    import asyncio

    import exposcan
    from tests.support.scope_files import scope_text

    scope = exposcan.parse_scope(scope_text(["127.0.0.0/8"], [104]))
    plan = asyncio.run(exposcan.prepare(scope, allow_large=True))
    assert plan.total == 2**24


# (include, exclude, ports, endpoints): the threshold is LARGE_SCAN = 2**20 endpoints.
AT_THRESHOLD = [
    (["127.0.0.0/12"], [], 1, 2**20),
    (["127.0.0.0/13"], [], 2, 2**20),
    (["127.0.0.0/12", "127.16.0.0"], ["127.0.0.9"], 1, 2**20),  # counted after excludes
    (["127.0.0.0/12", "127.16.0.0"], [], 1, 2**20 + 1),
    (["127.0.0.0/13", "127.8.0.0"], [], 2, 2**20 + 2),
]


@pytest.mark.parametrize(("include", "exclude", "ports", "endpoints"), AT_THRESHOLD)
async def test_allow_large_threshold_is_2_to_the_20_endpoints(
    include, exclude, ports, endpoints, quiet
):
    """Up to 2**20 endpoints a plan is made without --allow-large; one more is refused.
    Preparing sends nothing: the quiet listener (127.0.0.2, inside each scope) sees nothing."""
    import exposcan
    from exposcan.errors import OptionError
    from exposcan.scan import LARGE_SCAN
    from tests.support.scope_files import scope_text

    assert LARGE_SCAN == 2**20
    port_list = [quiet.port, 104][:ports]
    scope = exposcan.parse_scope(scope_text(include, port_list, exclude=exclude))
    if endpoints <= LARGE_SCAN:
        plan = await exposcan.prepare(scope)
        assert plan.total == endpoints
    else:
        with pytest.raises(OptionError, match=f"{endpoints:,} endpoints.*--allow-large"):
            await exposcan.prepare(scope)
        assert (await exposcan.prepare(scope, allow_large=True)).total == endpoints
    assert quiet.connections() == 0


def test_just_over_the_threshold_is_refused_by_the_cli(write_scope, quiet):
    scope = write_scope(["127.0.0.0/12", "127.16.0.0"], [quiet.port])
    assert_user_error(
        run("scan", "--scope", str(scope)), "1,048,577", "--allow-large", listener=quiet
    )


#: Runs the CLI with name resolution answered locally, so that no DNS query leaves the
#: machine: numeric hosts pass through; any name fails and is written to $LOOKUPS. A name
#: under .invalid (RFC 6761 §6.4: never resolves) must not even get that far.
NO_DNS_CLI = """
import ipaddress, os, socket, sys
real = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        with open(os.environ["LOOKUPS"], "a") as log:
            log.write(name + "\\n")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
    return real(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
from exposcan.cli import main
sys.exit(main(sys.argv[1:]))
"""
UNRESOLVABLE = "pacs.exposcan-test.invalid"


def run_without_dns(lookups: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(*args, prefix=("-c", NO_DNS_CLI), env={"LOOKUPS": str(lookups)})


def test_scope_hostname_that_does_not_resolve(write_scope, quiet, tmp_path):
    """The scope's other entry (127.0.0.2) holds the listener: nothing may reach it."""
    lookups = tmp_path / "lookups.txt"
    scope = write_scope(["127.0.0.2", UNRESOLVABLE], [quiet.port])
    proc = run_without_dns(lookups, "scan", "--scope", str(scope))
    assert_user_error(
        proc, UNRESOLVABLE, "does not resolve", "include", "scope.toml", listener=quiet
    )
    assert not lookups.exists()  # .invalid is answered by exposcan itself: no lookup at all


def test_target_hostname_that_does_not_resolve(write_scope, quiet, tmp_path):
    lookups = tmp_path / "lookups.txt"
    scope = write_scope(["127.0.0.2"], [quiet.port])
    proc = run_without_dns(lookups, "scan", "127.0.0.2", UNRESOLVABLE, "--scope", str(scope))
    assert_user_error(proc, "target", UNRESOLVABLE, "does not resolve", listener=quiet)
    assert not lookups.exists()  # .invalid is answered by exposcan itself: no lookup at all


@pytest.mark.parametrize(
    ("option", "value"),
    [("--concurrency", "0"), ("--timeout", "soon"), ("--per-host-rate", "-1"), ("--ports", "0")],
)
def test_bad_numbers(scope_file, quiet, option, value):
    proc = run("scan", "--scope", str(scope_file), option, value)
    assert_user_error(proc, value, option, listener=quiet)


def test_unreadable_ae_titles_file(scope_file, quiet, tmp_path):
    proc = run("scan", "--scope", str(scope_file), "--ae-titles", str(tmp_path / "none.txt"))
    assert_user_error(proc, "none.txt", listener=quiet)


def test_demo_report_holds_no_synthetic_patient(demo):
    proc = demo
    assert proc.returncode == 0, proc.stderr
    report = proc.stdout.split("JSONL report: ", 1)[1].split()[0]
    text = Path(report).read_text(encoding="utf-8")
    assert json.loads(text.splitlines()[-1])["record"] == "summary"
    for output in (proc.stdout, proc.stderr, text):
        assert "EXPOSCAN-DEMO" not in output


async def test_demo_guarded_service_holds_data_only_its_own_title_reaches():
    """The demo's `protected` is not an empty box: called by its own title, the guarded
    service answers C-FIND with its synthetic studies; called as a stranger, it refuses."""
    from exposcan.lab import SYNTHETIC_STUDIES, running_lab
    from exposcan.options import ScanOptions
    from exposcan.probes.dimse import probe_dimse

    with running_lab() as lab:
        guarded = next(s for s in lab.services if s.name == "guarded")
        insider = await probe_dimse(
            lab.host, guarded.port, ScanOptions(called_ae_title=guarded.ae_title)
        )
        stranger = await probe_dimse(lab.host, guarded.port, ScanOptions(ae_attempts=1))
    find = insider.first.find
    assert find is not None
    assert find.count == SYNTHETIC_STUDIES
    assert stranger.first.rejected is not None
    assert stranger.first.rejected.reason == 7

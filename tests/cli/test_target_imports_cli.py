"""``-iL``, ``--from-nmap`` and ``--from-masscan`` on ``exposcan scan``'s own parser
(issue 12, item 12): the options :mod:`exposcan.cli.target_args` adds, parsed as the
scan command parses them, into what :func:`exposcan.scan.prepare` takes; and a real nmap
sweep of the loopback lab probed as listed. In-process: the child-process test comes with
the scan command's wiring."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import exposcan
from exposcan.cli import build_parser
from exposcan.cli.target_args import add_arguments, input_files, targets_from
from exposcan.errors import OptionError, OutOfScopeError, UserError
from exposcan.lab import running_lab
from exposcan.scan import prepare
from exposcan.scope import parse_scope
from exposcan.scope.imports import TargetFileError
from tests.support.cli_child import FAST, run
from tests.support.scope_toml import assert_one_line, scope_text
from tests.support.target_files import MASSCAN_JSON, NMAP_XML


def scan_parser() -> argparse.ArgumentParser:
    """The real ``scan`` subparser, with the target options added as the wiring adds them
    (an option clash with the scan command's own would raise here)."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    scan = commands.choices["scan"]
    if not any("--from-nmap" in a.option_strings for a in scan._actions):
        add_arguments(scan)
    return parser


def parse(*argv: str) -> argparse.Namespace:
    return scan_parser().parse_args(["scan", "--scope", "s.toml", *argv])


@pytest.fixture
def scope_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.toml"
    text = scope_text(["127.0.0.0/29"], ports=[104, 11112], web_ports=[8042])
    path.write_text(text, encoding="utf-8")
    return path


def test_target_lists_merge_with_positional_targets(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("127.0.0.2\n# c\n127.0.0.1\n", encoding="utf-8")
    args = parse("127.0.0.1", "-iL", str(tmp_path / "a.txt"), "--target-list", "-")
    got = targets_from(args, stdin=io.BytesIO(b"127.0.0.4/31\n127.0.0.2\n"))
    assert got.targets == ["127.0.0.1", "127.0.0.2", "127.0.0.4/31"]
    assert got.endpoints is None
    assert input_files(args) == [(str(tmp_path / "a.txt"), "a target list")]


async def test_target_list_feeds_the_scope_check(tmp_path: Path, scope_file: Path) -> None:
    (tmp_path / "a.txt").write_text("127.0.0.1\n127.0.0.9\n", encoding="utf-8")
    got = targets_from(parse("-iL", str(tmp_path / "a.txt")))
    with pytest.raises(OutOfScopeError) as caught:
        await prepare(scope_file, got.targets, endpoints=got.endpoints)
    assert "target 127.0.0.9 is outside the scope" in assert_one_line(caught.value)


@pytest.mark.parametrize(
    ("flag", "name", "text"),
    [("--from-nmap", "n.xml", NMAP_XML), ("--from-masscan", "m.json", MASSCAN_JSON)],
)
async def test_sweeps_become_the_plan(
    tmp_path: Path, scope_file: Path, flag: str, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    args = parse(flag, str(tmp_path / name))
    got = targets_from(args)
    assert got.targets == []
    assert got.endpoints is not None
    plan = await prepare(scope_file, got.targets, endpoints=got.endpoints)
    header = plan.header()
    assert header["endpoints_from"]["format"] == got.endpoints.origin
    assert (
        header["endpoints"]
        == plan.total
        == len({(h, p) for h, p in got.endpoints} - {("127.0.0.2", 22)})
    )
    assert input_files(args)[0][0] == str(tmp_path / name)


def test_bad_input_is_one_user_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "n.xml").write_text(NMAP_XML, encoding="utf-8")
    with pytest.raises(OptionError) as caught:
        targets_from(parse("127.0.0.1", "--from-nmap", str(tmp_path / "n.xml")))
    assert "do not also give TARGETs or -iL" in assert_one_line(caught.value)
    with pytest.raises(OptionError):
        targets_from(parse("-iL", "-", "-iL", "-"), stdin=io.BytesIO(b""))
    with pytest.raises(TargetFileError) as missing:
        targets_from(parse("--from-masscan", str(tmp_path / "none.json")))
    assert isinstance(missing.value, UserError)
    assert assert_one_line(missing.value).startswith("cannot read masscan JSON ")
    with pytest.raises(UserError) as usage:  # the scan parser's: one line, exit 2
        parse("--from-nmap", "a.xml", "--from-masscan", "b.json")
    assert "--from-masscan: not allowed with argument --from-nmap" in str(usage.value)


async def test_a_real_nmap_sweep_of_the_lab_is_probed_as_listed(tmp_path: Path) -> None:
    """nmap's own -oX of the loopback lab (Debian's nmap: a failure, never a skip, when it
    is missing), through --from-nmap's reader into a scan: every open port probed once,
    as the lab expects, the closed one never."""
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.fail("nmap missing: apt-get install nmap")
    with running_lab() as lab:
        dicom = [s for s in lab.services if s.protocol == "dimse"]
        sweep = tmp_path / "sweep.xml"
        ports = ",".join(str(s.port) for s in dicom)
        await asyncio.to_thread(
            subprocess.run,
            [nmap, "-sT", "-Pn", "-n", "-p", ports, "-oX", str(sweep), lab.host],
            check=True,
            capture_output=True,
            timeout=60,
        )
        args = parse("--from-nmap", str(sweep))
        got = targets_from(args)
        scope = parse_scope(lab.scope_toml(), source="lab.toml")
        report = await exposcan.scan(scope, endpoints=got.endpoints, options=lab.scan_options())
    expected = {s.port: s.expected for s in dicom if s.expected != "none"}
    assert got.endpoints is not None
    assert sorted(port for _, port in got.endpoints) == sorted(expected)
    assert {r.port: str(r.exposure) for r in report.results} == expected
    assert report.header["endpoints"] == report.summary.endpoints_done == len(expected)
    assert report.header["endpoints_from"]["format"] == "nmap-xml"
    assert lab.forbidden.total == 0


def test_cli_from_nmap_and_target_lists_with_the_expiry_warning(tmp_path: Path) -> None:
    """Through the command line: the expiry and ignored-port warnings, only the listed
    endpoint probed, --resume with the same list and not another, a bad -iL line."""
    soon = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    scope = tmp_path / "s.toml"
    scope.write_text(scope_text(["127.0.0.0/29"], ports=[9], expires=soon), encoding="utf-8")
    sweep = tmp_path / "n.xml"
    sweep.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE nmaprun>\n<nmaprun><host>'
        '<address addr="127.0.0.1" addrtype="ipv4"/><ports>'
        '<port protocol="tcp" portid="9"><state state="open"/></port>'
        '<port protocol="tcp" portid="22"><state state="open"/></port>'
        "</ports></host></nmaprun>",
        encoding="utf-8",
    )
    out = tmp_path / "r.jsonl"
    proc = run("scan", "--scope", str(scope), "--from-nmap", str(sweep), "-o", str(out), *FAST)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("exposcan: warning: authorisation CHG-2026-0042 expires in ")
    assert lines[0].endswith("renew it before the next scheduled scan")
    assert lines[1].startswith("exposcan: warning: 1 open endpoint in nmap-xml ")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records[0]["endpoints_from"]["format"] == "nmap-xml"
    assert [(r["host"], r["port"]) for r in records if r["record"] == "endpoint"] == [
        ("127.0.0.1", 9)
    ]
    # resume: the same list continues, another list is refused
    again = run(
        "scan", "--scope", str(scope), "--from-nmap", str(sweep), "-o", str(out), "--resume", *FAST
    )
    assert again.returncode == 0, again.stderr
    sweep.write_text(
        sweep.read_text(encoding="utf-8")
        .replace('portid="22"', 'portid="9" x="1"')
        .replace('addr="127.0.0.1"', 'addr="127.0.0.2"'),
        encoding="utf-8",
    )
    other = run(
        "scan", "--scope", str(scope), "--from-nmap", str(sweep), "-o", str(out), "--resume", *FAST
    )
    assert other.returncode == 2
    assert "cannot resume" in other.stderr
    # -iL: a bad line is one line naming file and line, exit 2, nothing written
    listed = tmp_path / "t.txt"
    listed.write_text("127.0.0.1\n127.0.0.300\n", encoding="utf-8")
    bad = run("scan", "--scope", str(scope), "-iL", str(listed), *FAST)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        f"exposcan: error: target list {listed} line 2: "
        "'127.0.0.300' is not an address, CIDR or hostname"
    )
    assert "Traceback" not in bad.stderr
    listed.write_text("# the imaging VLAN's PACS\n127.0.0.1\n\n", encoding="utf-8")
    good = run("scan", "--scope", str(scope), "-iL", str(listed), "-o", str(out), *FAST)
    assert good.returncode == 0, good.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert records[0]["targets"] == ["127.0.0.1"]
    assert [(r["host"], r["port"]) for r in records if r["record"] == "endpoint"] == [
        ("127.0.0.1", 9)
    ]

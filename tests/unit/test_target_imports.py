"""Targets from other tools (issue 12, item 12): ``-iL`` lists, nmap XML and masscan JSON
read safely, and their open ports planned as the only endpoints a scan probes, every host
checked against the scope first. No socket: the probe is replaced in the engine."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import structlog

import exposcan
import exposcan.engine
from exposcan.errors import OptionError, OutOfScopeError, PortListError, UserError
from exposcan.options import ScanOptions
from exposcan.probing import Probed
from exposcan.scan import prepare
from exposcan.scope import parse_scope
from exposcan.scope.imports import (
    ImportedEndpoints,
    TargetFileError,
    read_masscan_json,
    read_nmap_xml,
    read_target_list,
)
from tests.support.scope_toml import assert_one_line, scope_text
from tests.support.target_files import MASSCAN_JSON, NMAP_XML, closed


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def one_line(caught: pytest.ExceptionInfo[BaseException]) -> str:
    assert isinstance(caught.value, UserError)
    return assert_one_line(caught.value)


# ----------------------------------------------------------------------------- -iL


def test_target_list_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.txt",
        "# ward B\n10.20.1.0/24\n\n   10.20.2.7   # the PACS\npacs.example.org\n\t\n2001:db8::1\n",
    )
    assert read_target_list(path) == [
        "10.20.1.0/24",
        "10.20.2.7",
        "pacs.example.org",
        "2001:db8::1",
    ]


def test_target_list_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "10.20.1.0/24\n# fine\n10.20.1.0/33\n")
    with pytest.raises(TargetFileError) as caught:
        read_target_list(path)
    message = one_line(caught)
    assert message.startswith(f"target list {path} line 3: '10.20.1.0/33'")


def test_target_list_from_stdin() -> None:
    stdin = io.BytesIO(b"127.0.0.1\n127.0.0.2 # second\n")
    assert read_target_list("-", stdin=stdin) == ["127.0.0.1", "127.0.0.2"]
    with pytest.raises(TargetFileError) as caught:
        read_target_list("-", stdin=io.BytesIO(b"ok.example\nnot a target\n"))
    assert one_line(caught).startswith("target list stdin line 2: ")


def test_target_list_is_bounded_and_must_be_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exposcan.scope.imports as imports

    monkeypatch.setattr(imports, "MAX_TARGET_LIST_BYTES", 64)
    path = write(tmp_path, "big.txt", "127.0.0.1\n" * 10)
    with pytest.raises(TargetFileError) as caught:
        read_target_list(path)
    assert "larger than 64 bytes" in one_line(caught)
    with pytest.raises(TargetFileError) as caught:
        read_target_list("-", stdin=io.BytesIO(b"127.0.0.1\n" * 10))
    assert "stdin is larger than 64 bytes" in one_line(caught)
    with pytest.raises(TargetFileError) as caught:
        read_target_list(tmp_path)
    assert one_line(caught).startswith(f"cannot read target list {tmp_path}: ")
    with pytest.raises(TargetFileError) as caught:
        read_target_list(write(tmp_path, "l1.txt", b"10.0.0.1\n\xff\n"))
    assert "is not UTF-8 text" in one_line(caught)


# ----------------------------------------------------------------------------- nmap


def test_nmap_xml_gives_open_tcp_ports_only(tmp_path: Path) -> None:
    imported = read_nmap_xml(write(tmp_path, "n.xml", NMAP_XML))
    assert imported.origin == "nmap-xml"
    assert list(imported) == [
        ("127.0.0.1", 8042),
        ("127.0.0.1", 11112),
        ("127.0.0.2", 104),
        ("127.0.0.2", 22),
    ]
    assert imported.services == ("fs-agent", "dicom", None, "ssh")


@pytest.mark.parametrize(
    ("prolog", "needle"),
    [
        (  # billion laughs
            '<!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
            "declares an entity",
        ),
        ('<!DOCTYPE nmaprun SYSTEM "http://127.0.0.1:9/evil.dtd">', "document type other than"),
        ('<!DOCTYPE nmaprun PUBLIC "-//x//y" "file:///etc/passwd">', "document type other than"),
        ("<!DOCTYPE nmaprun [ ]>", "document type other than"),
        ("<!DOCTYPE other>", "document type other than"),
        ("<!doctype nmaprun><!DOCTYPE nmaprun>", "document type other than"),
        ("<!DOCTYPE nmaprun>\n<!entity x 'y'>", "declares an entity"),
    ],
)
def test_nmap_xml_refuses_dtds_and_entities(tmp_path: Path, prolog: str, needle: str) -> None:
    text = NMAP_XML.replace("<!DOCTYPE nmaprun>", prolog, 1)
    with pytest.raises(TargetFileError) as caught:
        read_nmap_xml(write(tmp_path, "n.xml", text))
    message = one_line(caught)
    assert message.startswith(f"nmap XML {tmp_path / 'n.xml'} ")
    assert needle in message


def test_nmap_xml_refuses_what_is_not_nmap_output(tmp_path: Path) -> None:
    cases = {
        "wrong-root.xml": ("<?xml version='1.0'?><report><host/></report>", "its root is 'report'"),
        "torn.xml": (NMAP_XML[: len(NMAP_XML) // 2], "is not well-formed XML (line "),
        "utf16.xml": (
            NMAP_XML.replace('encoding="UTF-8"', 'encoding="UTF-16"'),
            "declares encoding 'UTF-16'",
        ),
        "port.xml": (NMAP_XML.replace('portid="8042"', 'portid="80420"'), "port '80420'"),
    }
    for name, (text, needle) in cases.items():
        with pytest.raises(TargetFileError) as caught:
            read_nmap_xml(write(tmp_path, name, text))
        assert needle in one_line(caught), name
    utf16 = NMAP_XML.encode("utf-16")
    with pytest.raises(TargetFileError) as caught:
        read_nmap_xml(write(tmp_path, "bom16.xml", utf16))
    assert "is not UTF-8 text" in one_line(caught)


def test_nmap_xml_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import exposcan.scope.imports as imports

    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 1000)
    with pytest.raises(TargetFileError) as caught:
        read_nmap_xml(write(tmp_path, "n.xml", NMAP_XML))
    assert "larger than 1000 bytes" in one_line(caught)


# ----------------------------------------------------------------------------- masscan


def test_masscan_json_with_trailing_comma_and_finished_record(tmp_path: Path) -> None:
    imported = read_masscan_json(write(tmp_path, "m.json", MASSCAN_JSON))
    assert imported.origin == "masscan-json"
    assert list(imported) == [("127.0.0.1", 11112), ("127.0.0.2", 8042)]
    assert imported.services == (None, "http")


def test_masscan_ndjson_and_current_list_form(tmp_path: Path) -> None:
    ndjson = '{"ip": "127.0.0.3", "ports": [{"port": 104, "proto": "tcp", "status": "open"}]}\n'
    assert list(read_masscan_json(write(tmp_path, "d.json", ndjson))) == [("127.0.0.3", 104)]
    current = "[\n" + ndjson.strip() + "\n]\n"
    assert list(read_masscan_json(write(tmp_path, "j.json", current))) == [("127.0.0.3", 104)]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[{", "is not masscan's JSON output (line 1"),
        ('{"ip": 1}', "record 1 has no ip and ports"),
        ('"text"', "record 1 is not an object"),
        ("[1]", "record 1 is not an object"),
        (
            '[{"ip": "127.0.0.1", "ports": [{"port": "x", "proto": "tcp", "status": "open"}]}]',
            "port 'x'",
        ),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_masscan_json_malformed(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(TargetFileError) as caught:
        read_masscan_json(write(tmp_path, "m.json", text))
    message = one_line(caught)
    assert message.startswith(f"masscan JSON {tmp_path / 'm.json'}")
    assert needle in message


# ----------------------------------------------------------------------------- planning

SCOPE = scope_text(["127.0.0.0/29"], ["127.0.0.6"], ports=[104, 11112], web_ports=[8042, 11112])


async def listed_plan(endpoints: object, **options: object) -> object:
    scope = parse_scope(SCOPE, source="s.toml")
    return await prepare(scope, options=ScanOptions(**options), endpoints=endpoints)  # type: ignore[arg-type]


async def test_listed_endpoints_map_to_the_scan_ports(tmp_path: Path) -> None:
    plan = await listed_plan(read_nmap_xml(write(tmp_path, "n.xml", NMAP_XML)))
    # 8042: web; 11112: DICOM and web (it is in both lists); 104: DICOM; 22: neither.
    assert plan.total == 4
    header = plan.header()
    assert header["endpoints"] == 4
    assert header["hosts"] == 2
    listed = header["endpoints_from"]
    assert listed["format"] == "nmap-xml"
    assert (listed["endpoints"], listed["ignored"], listed["ignored_ports"]) == (4, 1, [22])
    assert listed["digest"].startswith("sha256:")
    assert plan.warnings() == [
        f"1 open endpoint in nmap-xml {tmp_path / 'n.xml'} not probed: port 22 is in neither "
        "the scan's DICOM ports nor its web ports"
    ]
    walked = [(r.kind, e.host, e.port) for r, e in plan.endpoints.walk()]
    assert walked == [
        ("web", "127.0.0.1", 8042),
        ("web", "127.0.0.1", 11112),
        ("dicom", "127.0.0.2", 104),
        ("dicom", "127.0.0.1", 11112),
    ]


async def test_port_selection_narrows_what_is_probed(tmp_path: Path) -> None:
    plan = await listed_plan([("127.0.0.1", 11112), ("127.0.0.2", 104)], ports=(104,), web_ports=())
    assert [(e.host, e.port) for _, e in plan.endpoints.walk()] == [("127.0.0.2", 104)]
    assert plan.header()["endpoints_from"]["ignored_ports"] == [11112]
    with pytest.raises(PortListError) as caught:
        await listed_plan([("127.0.0.1", 22), ("127.0.0.1", 80)])
    message = one_line(caught)
    assert "nothing to scan: no open port in the endpoint list (22, 80)" in message
    assert "ports 104,11112" in message


async def test_a_dicom_port_the_scope_lacks_gets_a_hint_not_a_probe() -> None:
    imported = ImportedEndpoints(
        "nmap-xml",
        "n.xml",
        (("127.0.0.1", 104), ("127.0.0.1", 4243), ("127.0.0.1", 8443), ("127.0.0.1", 22)),
        ("acr-nema", "dicom", "https-alt", "ssh\u202e"),
    )
    plan = await listed_plan(imported)
    assert plan.total == 1
    (warning,) = plan.warnings()
    assert warning == (
        "3 open endpoints in nmap-xml n.xml not probed: ports 22, 4243, 8443 are in neither "
        "the scan's DICOM ports nor its web ports (the sweep names 4243 dicom, 8443 https-alt: "
        "list them in the scope file to probe them)"
    )


async def test_digest_names_the_list_not_its_order() -> None:
    a = await listed_plan([("127.0.0.1", 104), ("127.0.0.2", 104)])
    b = await listed_plan([("127.0.0.2", 104), ("127.0.0.1", 104), ("127.0.0.1", 104)])
    c = await listed_plan([("127.0.0.1", 104)])
    assert a.endpoints.digest == b.endpoints.digest != c.endpoints.digest
    assert b.total == 2


@pytest.mark.parametrize(
    ("pairs", "error", "needle"),
    [
        ([("127.0.0.9", 104)], OutOfScopeError, "target 127.0.0.9 is outside the scope"),
        ([("127.0.0.1", 104), ("127.0.0.6", 104)], OutOfScopeError, "excluded by the scope"),
        ([("pacs.example.org", 104)], OutOfScopeError, "is not an address a scan may connect to"),
        ([("0.0.0.0", 104)], OutOfScopeError, "is not an address a scan may connect to"),
        ([("127.0.0.1", 0)], PortListError, "0 is not a port"),
        ([("127.0.0.1",)], OutOfScopeError, "is not a (host, port) pair"),
        ([], PortListError, "lists no open TCP port"),
    ],
)
async def test_every_host_is_checked_before_any_packet(
    pairs: list[tuple[object, ...]], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as caught:
        await listed_plan(pairs)
    assert needle in one_line(caught)


async def test_only_hosts_something_is_sent_to_are_judged() -> None:
    # 127.0.0.9 is outside the scope, but only its ssh port is open: it is not probed.
    plan = await listed_plan([("127.0.0.1", 104), ("127.0.0.9", 22), ("::ffff:127.0.0.2", 104)])
    assert plan.targets.count == 2
    assert "127.0.0.9" not in plan.targets
    assert [(e.host, e.port) for _, e in plan.endpoints.walk()] == [
        ("127.0.0.1", 104),
        ("127.0.0.2", 104),
    ]
    assert plan.header()["endpoints_from"]["ignored_ports"] == [22]


async def test_targets_and_endpoints_do_not_mix() -> None:
    scope = parse_scope(SCOPE, source="s.toml")
    with pytest.raises(OptionError) as caught:
        await prepare(scope, ["127.0.0.1"], endpoints=[("127.0.0.1", 104)])
    assert "not both" in one_line(caught)


async def test_engine_probes_only_the_listed_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[tuple[str, int, str]] = []

    async def fake_probe(endpoint, registration, run, gate, **_: object) -> Probed:  # type: ignore[no-untyped-def]
        probed.append((endpoint.host, endpoint.port, registration.kind))
        return closed(endpoint)

    monkeypatch.setattr(exposcan.engine, "probe_endpoint", fake_probe)
    imported = ImportedEndpoints(
        "nmap-xml", "n.xml", (("127.0.0.1", 104), ("127.0.0.3", 11112), ("127.0.0.2", 22))
    )
    with structlog.testing.capture_logs() as logs:
        plan = await listed_plan(imported, web_ports=())
    assert logs == []  # prepare() says nothing: the CLI prints plan.warnings() itself
    seen: list[tuple[int, int]] = []
    skip = {("127.0.0.3", 11112, "dicom")}  # finished by a run being resumed
    engine = plan.engine(on_progress=lambda p: seen.append((p.done, p.total)), skip=skip)
    results = [r async for r in engine.run()]
    assert probed == [("127.0.0.1", 104, "dicom")]
    assert [(r.host, r.port) for r in results] == [("127.0.0.1", 104)]
    assert engine.total == plan.total == 2
    assert seen == [(1, 2)]
    probed.clear()
    scope = parse_scope(SCOPE, source="s.toml")
    with structlog.testing.capture_logs() as logs:
        report = await exposcan.scan(scope, endpoints=imported, options=ScanOptions(web_ports=()))
    assert [(r.host, r.port) for r in report.results] == [("127.0.0.1", 104), ("127.0.0.3", 11112)]
    assert sorted(probed) == [("127.0.0.1", 104, "dicom"), ("127.0.0.3", 11112, "dicom")]
    assert report.header["endpoints_from"]["endpoints"] == report.summary.endpoints_done == 2
    ignored = [e for e in logs if e["event"] == "endpoints_ignored"]
    assert [(e["log_level"], e["ignored"]) for e in ignored] == [("warning", 1)]
    assert "port 22 is in neither" in ignored[0]["message"]

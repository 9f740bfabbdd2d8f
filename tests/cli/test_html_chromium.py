"""The HTML report in a real browser: Debian's ``chromium``, headless, renders it to a PNG
(checked to show the page: text, the severity colours, the charts) and prints it to PDF
(A4 pages).

Chromium runs as a child process with its own profile in the test's temporary folder,
no network (every host name resolves to nothing, every request goes to a closed
loopback port: the page must need nothing from anywhere) and a deadline; on timeout its
process group is killed. It is a Debian tool: the test fails when ``CI`` is set and it is
missing, and skips only outside CI.

The PNG is decoded with the standard library (zlib and struct, PNG per RFC 2083 /
ISO 15948: signature, IHDR, IDAT, the five row filters).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

import exposcan
from exposcan.lab import running_lab
from exposcan.report.convert import render
from tests.support.cli_child import run_cli
from tests.support.hospital_report import hospital_report

#: A4 at 150 dpi, as the brief for the report asks.
WINDOW = (1240, 1754)
CHROMIUM_TIMEOUT_S = 120.0
#: The colours the stylesheet gives critical findings, protected services and the
#: verdict's tint (exposcan/data/report.html.j2); the screenshot must show each.
CRITICAL_RED = (0x9B, 0x1C, 0x1C)
PROTECTED_GREEN = (0x2F, 0x7D, 0x4F)
VERDICT_TINT = (0xFB, 0xF0, 0xF0)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium missing: apt-get install chromium (renders the HTML report)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_chromium(binary: str, workdir: Path, page: Path, *action: str) -> str:
    """Run headless Chromium on ``page`` with ``action`` (a --screenshot or
    --print-to-pdf flag); its stderr, for messages. Killed, with its children, on timeout."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    argv = [
        binary,
        "--headless",
        "--no-sandbox",  # the suite runs as root in CI
        "--disable-gpu",
        f"--user-data-dir={workdir / 'profile'}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--no-pings",
        # Nothing leaves this machine: no name resolves, every request goes to a port
        # nothing listens on (the page needs none: it is self-contained).
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=http://127.0.0.1:9",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *action,
        page.resolve().as_uri(),
    ]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LANG": "C.UTF-8",
    }
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=workdir,
        start_new_session=True,  # its own process group: killed whole on timeout
    )
    try:
        _, stderr = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish in {CHROMIUM_TIMEOUT_S:.0f} s: {' '.join(argv)}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, f"chromium exit {proc.returncode}:\n{text[-2000:]}"
    return text


# --- PNG, decoded with the standard library -----------------------------------------


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert ihdr is not None, "no IHDR"
    width, height, depth, colour, _, _, interlace = ihdr
    assert (depth, interlace) == (8, 0), ihdr
    assert colour in (2, 6), ihdr
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        rgb = bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3)
        rows.append(rgb)
        previous = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, above: bytearray, bpp: int) -> None:
    if kind == 0:
        return
    if kind == 2:
        for i in range(len(line)):
            line[i] = (line[i] + above[i]) & 0xFF
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + above[i]) // 2) & 0xFF
        elif kind == 4:
            up_left = above[i - bpp] if i >= bpp else 0
            p = left + above[i] - up_left
            pa, pb, pc = abs(p - left), abs(p - above[i]), abs(p - up_left)
            pred = left if pa <= pb and pa <= pc else above[i] if pb <= pc else up_left
            line[i] = (line[i] + pred) & 0xFF
        else:
            raise AssertionError(f"PNG filter type {kind}")


def encode_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour RGB PNG (for the checker's own test)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def colours(rows: list[bytes]) -> Counter[tuple[int, int, int]]:
    """How many pixels of each colour (every other row and column: a sample)."""
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in rows[::2]:
        for x in range(0, len(row) - 2, 6):
            counts[(row[x], row[x + 1], row[x + 2])] += 1
    return counts


def near(counts: Counter[tuple[int, int, int]], target: tuple[int, int, int]) -> int:
    """How many sampled pixels are within 10 per channel of ``target``."""
    return sum(
        n
        for colour, n in counts.items()
        if all(abs(a - b) <= 10 for a, b in zip(colour, target, strict=True))
    )


def ink_share(counts: Counter[tuple[int, int, int]]) -> float:
    """The share of pixels dark enough to be text or a bar (not white, not the page's
    pale background)."""
    total = sum(counts.values())
    dark = sum(n for (r, g, b), n in counts.items() if 0.299 * r + 0.587 * g + 0.114 * b < 160)
    return dark / total if total else 0.0


def assert_shows_a_page(png: bytes) -> None:
    width, height, rows = decode_png(png)
    assert (width, height) == WINDOW
    counts = colours(rows)
    ink = ink_share(counts)
    assert 0.01 < ink < 0.6, f"{ink:.1%} of the pixels are ink: blank or a black page"
    assert len(counts) > 64, f"{len(counts)} distinct colours: no text rendered"
    for name, target in (
        ("critical red", CRITICAL_RED),
        ("protected green", PROTECTED_GREEN),
        ("verdict tint", VERDICT_TINT),
    ):
        assert near(counts, target) > 20, f"no {name} in the screenshot: the style did not apply"


# --- the tests ------------------------------------------------------------------------


def test_the_checker_refuses_a_blank_page():
    blank = encode_png(*WINDOW, (255, 255, 255))
    with pytest.raises(AssertionError, match="ink"):
        assert_shows_a_page(blank)
    grey = encode_png(*WINDOW, (0xEE, 0xF1, 0xF5))  # the page's background alone
    with pytest.raises(AssertionError, match="ink"):
        assert_shows_a_page(grey)


def test_report_renders_in_chromium(chromium: str, tmp_path: Path):
    page = tmp_path / "report.html"
    with page.open("w", encoding="utf-8") as stream:
        render(hospital_report(), "html", stream)
    shot = tmp_path / "report.png"
    run_chromium(chromium, tmp_path, page, f"--screenshot={shot}")
    assert shot.is_file(), "chromium wrote no screenshot"
    assert_shows_a_page(shot.read_bytes())


async def test_a_real_scan_prints_on_a4(chromium: str, tmp_path: Path):
    """The in-process lab scanned for real, its JSONL converted by ``exposcan report
    SCAN.jsonl --format html`` (a child process), printed to PDF on A4."""
    jsonl = tmp_path / "scan.jsonl"
    with running_lab() as lab:
        scope = tmp_path / "scope.toml"
        scope.write_text(lab.scope_toml(), encoding="utf-8")
        report = await exposcan.scan(scope, options=exposcan.ScanOptions(ae_attempts=1))
    with jsonl.open("w", encoding="utf-8") as stream:
        render(report, "jsonl", stream)
    page = tmp_path / "report.html"
    code, _, stderr = await run_cli("report", str(jsonl), "--format", "html", "-o", str(page))
    assert code == 0, stderr
    html = page.read_text("utf-8")
    answering = len(report.exposed())
    assert answering  # the lab has services that answer strangers
    said = f"{answering} service answers" if answering == 1 else f"{answering} services answer"
    assert f"{said} strangers" in html
    assert f"Scan id</dt><dd>{report.header['scan_id']}</dd>" in html
    pdf = tmp_path / "report.pdf"
    await asyncio.to_thread(
        run_chromium, chromium, tmp_path, page, "--no-pdf-header-footer", f"--print-to-pdf={pdf}"
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = re.findall(rb"/Type\s*/Page(?!s)", data)
    assert len(pages) >= 2, "the appendix starts a page of its own"
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes, "no page size in the PDF"
    for width, height in boxes:  # A4: 210 x 297 mm = 595.3 x 841.9 pt
        assert abs(float(width) - 595.3) < 2, width
        assert abs(float(height) - 841.9) < 2, height
    screenshot = tmp_path / "lab.png"
    await asyncio.to_thread(run_chromium, chromium, tmp_path, page, f"--screenshot={screenshot}")
    width, height, rows = decode_png(screenshot.read_bytes())
    assert ink_share(colours(rows)) > 0.01

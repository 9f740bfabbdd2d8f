"""Synthetic Modality Worklist items (``*.wl``) for worklist SCPs: DCMTK's ``wlmscpfs`` and
Orthanc's ModalityWorklists plugin read the same files.

Each item is written as a text dump in the layout of DCMTK's own samples
(``/usr/share/doc/dcmtk/examples/wlistdb/OFFIS/wklist1.dump``) and converted by
``dump2dcm``. Every identifying value is invented, carries :data:`MARKER` and is added to
``SYNTHETIC_STRINGS`` (``tests/support/synthetic.py``), so the suite's leak checks search
every output for it as they do for the synthetic studies.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.support.synthetic import MARKER, SYNTHETIC_STRINGS, SYNTHETIC_UIDS

DUMP2DCM = Path("/usr/bin/dump2dcm")
#: wlmscpfs refuses to read an AE folder without this file (it locks it while reading).
LOCKFILE = "lockfile"
TIMEOUT_S = 30.0


def _dump(i: int, study_uid: str) -> tuple[str, dict[str, str]]:
    values = {
        "accession": f"{MARKER}W{i:04d}",
        "name": f"{MARKER}^WORKLIST{i:03d}",
        "id": f"{MARKER}WL{i:05d}",
        "birth": f"{1902 + i % 30:04d}{1 + i % 12:02d}{1 + i % 27:02d}",
        "physician": f"{MARKER}^REQUESTER{i:03d}",
        "step": f"{MARKER}SPS{i:03d}",
        "procedure": f"{MARKER}RP{i:03d}",
    }
    text = f"""\
(0008,0005) CS  [ISO_IR 100]
(0008,0050) SH  [{values["accession"]}]
(0010,0010) PN  [{values["name"]}]
(0010,0020) LO  [{values["id"]}]
(0010,0030) DA  [{values["birth"]}]
(0010,0040) CS  [O]
(0020,000d) UI  [{study_uid}]
(0032,1032) PN  [{values["physician"]}]
(0032,1060) LO  [{MARKER} synthetic procedure]
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS  [CT]
(0040,0001) AE  [{MARKER}CT]
(0040,0002) DA  [20300101]
(0040,0003) TM  [080000]
(0040,0009) SH  [{values["step"]}]
(0040,0007) LO  [{MARKER} synthetic step]
(fffe,e00d) -
(fffe,e0dd) -
(0040,1001) SH  [{values["procedure"]}]
"""
    return text, values


def make_worklist(n_items: int, out_dir: Path) -> list[Path]:
    """Write ``n_items`` worklist items to ``out_dir`` (created, with wlmscpfs's
    ``lockfile``); returns the ``.wl`` paths in a stable order."""
    if n_items < 0:
        raise ValueError("the count must not be negative")
    dump2dcm = shutil.which("dump2dcm") or str(DUMP2DCM)
    if not Path(dump2dcm).is_file():
        pytest.fail("dump2dcm missing: apt-get install dcmtk")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / LOCKFILE).touch()
    paths: list[Path] = []
    for i in range(1, n_items + 1):
        study_uid = generate_uid()
        text, values = _dump(i, study_uid)
        dump = out_dir / f"item{i:03d}.dump"
        dump.write_text(text, encoding="ascii")
        item = out_dir / f"item{i:03d}.wl"
        try:
            done = subprocess.run(
                [dump2dcm, str(dump), str(item)],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"dump2dcm timed out after {TIMEOUT_S:.0f} s")
        if done.returncode != 0 or not item.is_file():
            pytest.fail(f"dump2dcm failed ({done.returncode}): {done.stderr[-2000:]}")
        dump.unlink()  # the .wl file is all a worklist SCP reads
        SYNTHETIC_UIDS.add(study_uid)
        SYNTHETIC_STRINGS.update({study_uid, *values.values()})
        SYNTHETIC_STRINGS.add(values["name"].replace("^", " "))
        paths.append(item)
    return paths

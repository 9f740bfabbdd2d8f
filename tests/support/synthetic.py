"""Synthetic DICOM studies for tests: invented patients, fresh UIDs, a searchable marker.

Every file is a copy of pydicom's ``CT_small.dcm`` with all identifying values replaced by
invented ones that contain :data:`MARKER` (names, IDs, accession numbers) or are unusual
enough to search for (birth dates, UIDs). Every value written is added to
:data:`SYNTHETIC_STRINGS`, so a test can assert that no report, log or exception message
contains any of them::

    leaked = find_synthetic(report_text)
    assert not leaked, leaked
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

MARKER = "ZZSYNTH"

#: Every identifying value written by :func:`make_studies` in this process (names in DICOM
#: ``Family^Given`` form and in the ``Family Given`` form some tools print, IDs, accession
#: numbers, birth dates, study IDs, study/series/SOP instance UIDs).
SYNTHETIC_STRINGS: set[str] = {MARKER}
#: The UIDs alone (a subset of :data:`SYNTHETIC_STRINGS`).
SYNTHETIC_UIDS: set[str] = set()

_SOURCE = "CT_small.dcm"


def patient_name(i: int) -> str:
    return f"{MARKER}^PATIENT{i:03d}"


def patient_id(i: int) -> str:
    return f"{MARKER}{i:05d}"


def birth_date(i: int) -> str:
    # 1901..1930, unusual enough to search for and never a date a scan would print.
    return f"{1901 + i % 30:04d}{1 + i % 12:02d}{1 + i % 28:02d}"


def _source_dataset() -> Dataset:
    path = get_testdata_file(_SOURCE)
    if path is None:  # pragma: no cover - pydicom's test data is part of the wheel
        raise FileNotFoundError(f"pydicom test file {_SOURCE} not found")
    return pydicom.dcmread(path)


def make_studies(n_patients: int, studies_per_patient: int, out_dir: Path | str) -> list[Path]:
    """Write ``n_patients * studies_per_patient`` single-instance CT studies to ``out_dir``.

    Patients are numbered from 1; study ``k`` of patient ``i`` gets accession number
    ``f"{MARKER}A{i:03d}{k:02d}"``. Returns the file paths in a stable order.
    """
    if n_patients < 0 or studies_per_patient < 0:
        raise ValueError("counts must not be negative")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for i in range(1, n_patients + 1):
        for k in range(1, studies_per_patient + 1):
            ds = _source_dataset()  # a fresh read each time: no shared elements
            study_uid, series_uid, sop_uid, frame_uid = (generate_uid() for _ in range(4))
            values = {
                "PatientName": patient_name(i),
                "PatientID": patient_id(i),
                "PatientBirthDate": birth_date(i),
                "AccessionNumber": f"{MARKER}A{i:03d}{k:02d}",
                "StudyID": f"{MARKER}S{i:03d}{k:02d}",  # SH: 16 characters at most
                "StudyDescription": f"{MARKER} synthetic study {k}",
                "InstitutionName": f"{MARKER} HOSPITAL",
                "ReferringPhysicianName": f"{MARKER}^DOCTOR{i:03d}",
                "StationName": f"{MARKER}ST",
            }
            for keyword, value in values.items():
                setattr(ds, keyword, value)
            ds.PatientSex = "O"
            ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = (
                f"2020{1 + i % 12:02d}{1 + k % 28:02d}"
            )
            ds.StudyTime = f"{8 + k % 10:02d}0000"
            other = Dataset()
            other.PatientID = f"{MARKER}O{i:05d}"
            other.IssuerOfPatientID = MARKER
            ds.OtherPatientIDsSequence = Sequence([other])
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.SOPInstanceUID = sop_uid
            ds.FrameOfReferenceUID = frame_uid
            ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
            ds.file_meta.SourceApplicationEntityTitle = MARKER
            path = out / f"{MARKER}_{i:03d}_{k:02d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)

            uids = {study_uid, series_uid, sop_uid, frame_uid}
            SYNTHETIC_UIDS.update(uids)
            SYNTHETIC_STRINGS.update(uids)
            SYNTHETIC_STRINGS.update(values.values())
            SYNTHETIC_STRINGS.update({other.PatientID, values["PatientName"].replace("^", " ")})
    return paths


def find_synthetic(text: str | bytes, strings: Iterable[str] | None = None) -> list[str]:
    """The synthetic values (default: all of :data:`SYNTHETIC_STRINGS`) found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return sorted(s for s in (SYNTHETIC_STRINGS if strings is None else strings) if s in text)

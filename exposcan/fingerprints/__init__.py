"""Name the software behind a DICOM peer from its implementation identity.

An A-ASSOCIATE-AC carries an Implementation Class UID and, usually, an
Implementation Version Name (PS3.7 D.3.3.2).  :func:`identify` maps them to a
product or to a toolkit with the table in ``exposcan/data/fingerprints.toml``
(every entry there names its source).

A toolkit is not a product: Orthanc and Horos answer with DCMTK's own identity,
dcm4chee and Dicoogle with dcm4che's.  A match on a toolkit entry therefore
yields ``ProductGuess(product=None, toolkit="DCMTK", ...)`` ("DCMTK-based"), and
a product is named only when the version name, the UID or extra evidence from
another probe (``extra_hints``) identifies one.

Rules, in order: product entries beat toolkit entries; within a kind, a
version-name match beats a UID match, and an exact UID beats a UID root.

The table is parsed and validated once, lazily, on first use; a malformed table
raises :class:`FingerprintDataError` naming the file and the entry.

:mod:`~exposcan.fingerprints.matching` holds the rules; :mod:`~exposcan.fingerprints.table`
reads and validates the table, and identifies with the packaged one.
"""

from __future__ import annotations

from exposcan.fingerprints.matching import (
    CONFIDENCE_HIGH,
    CONFIDENCE_LOW,
    CONFIDENCE_MEDIUM,
    FingerprintDB,
    Implementation,
    ProductGuess,
)
from exposcan.fingerprints.table import (
    FingerprintDataError,
    default_db,
    identify,
    load_fingerprints,
    parse_fingerprints,
)

__all__ = [
    "CONFIDENCE_HIGH",
    "CONFIDENCE_LOW",
    "CONFIDENCE_MEDIUM",
    "FingerprintDB",
    "FingerprintDataError",
    "Implementation",
    "ProductGuess",
    "default_db",
    "identify",
    "load_fingerprints",
    "parse_fingerprints",
]

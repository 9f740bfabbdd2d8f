"""What a product is known to do that the A-ASSOCIATE-AC cannot show. Pure.

Orthanc accepts storage presentation contexts from any peer, and only when a C-STORE
arrives does it check ``DicomAlwaysAllowStore`` (true in Orthanc's own defaults; false
makes it refuse every store from a modality it does not know). exposcan never sends a
C-STORE, so where the peer is known to be Orthanc it keeps ``store`` (what the
association showed, and what Orthanc's defaults do) and says the acceptance alone
cannot confirm it (docs/decoys-and-products.md).
"""

from __future__ import annotations

from exposcan.results import Fingerprint

__all__ = ["ORTHANC_STORE_NOTE", "storage_note"]

ORTHANC_STORE_NOTE = (
    "the peer is Orthanc, which accepts storage contexts even where it refuses every "
    "C-STORE from unknown peers (DicomAlwaysAllowStore false): the A-ASSOCIATE-AC alone "
    "cannot confirm storage"
)


def storage_note(fingerprint: Fingerprint | None, claimed: tuple[str, ...] = ()) -> str | None:
    """A caveat on accepted storage contexts, from the fingerprint's product or a product
    the peer claimed (its called AE title, its host's web side) on a DCMTK identity."""
    if fingerprint is None:
        return None
    if fingerprint.product == "Orthanc":
        return ORTHANC_STORE_NOTE
    if fingerprint.toolkit == "DCMTK" and "Orthanc" in claimed:
        return ORTHANC_STORE_NOTE
    return None

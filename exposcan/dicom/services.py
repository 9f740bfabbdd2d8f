"""The service map exposcan proposes in one A-ASSOCIATE-RQ, with short names.

SOP Class UIDs are from PS3.4 (Annex B storage, Annex C query/retrieve, Annex K
worklist) and the registry in PS3.6 Annex A. Storage classes are a
representative handful: a peer that accepts any of them from a stranger has
shown it would store what a stranger sends. Move, get and storage are never
exercised; their acceptance in the A-ASSOCIATE-AC is the whole finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exposcan.dicom import uids


class ServiceKind(StrEnum):
    """What a DICOM service does (PS3.4): what its acceptance by a stranger means."""

    VERIFICATION = "verification"
    FIND = "find"
    MOVE = "move"
    GET = "get"
    WORKLIST = "worklist"
    STORAGE = "storage"


@dataclass(frozen=True, slots=True)
class Service:
    uid: str
    name: str
    kind: ServiceKind


STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
WORKLIST_FIND = "1.2.840.10008.5.1.4.31"

SERVICES: tuple[Service, ...] = (
    Service(uids.VERIFICATION, "verification", ServiceKind.VERIFICATION),
    Service(STUDY_ROOT_FIND, "study-root-find", ServiceKind.FIND),
    Service(PATIENT_ROOT_FIND, "patient-root-find", ServiceKind.FIND),
    Service(WORKLIST_FIND, "worklist-find", ServiceKind.WORKLIST),
    Service("1.2.840.10008.5.1.4.1.2.2.2", "study-root-move", ServiceKind.MOVE),
    Service("1.2.840.10008.5.1.4.1.2.1.2", "patient-root-move", ServiceKind.MOVE),
    Service("1.2.840.10008.5.1.4.1.2.2.3", "study-root-get", ServiceKind.GET),
    Service("1.2.840.10008.5.1.4.1.2.1.3", "patient-root-get", ServiceKind.GET),
    Service("1.2.840.10008.5.1.4.1.1.2", "ct-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.4", "mr-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.1", "cr-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.1.1", "dx-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.1.2", "mg-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.6.1", "us-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.7", "sc-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.481.1", "rt-image-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.481.2", "rt-dose-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.88.11", "basic-sr-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.88.22", "enhanced-sr-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.104.1", "pdf-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.128", "pet-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.20", "nm-storage", ServiceKind.STORAGE),
    Service("1.2.840.10008.5.1.4.1.1.12.1", "xa-storage", ServiceKind.STORAGE),
)

BY_UID = {service.uid: service for service in SERVICES}


def name_of(uid: str) -> str:
    service = BY_UID.get(uid)
    return service.name if service else uid


def kind_of(uid: str) -> ServiceKind | None:
    service = BY_UID.get(uid)
    return service.kind if service else None

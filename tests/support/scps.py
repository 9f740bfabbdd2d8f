"""pynetdicom SCPs on free 127.0.0.1 ports, always shut down.

:class:`ScpLauncher` (the fixture ``scp_launcher``) is the suite's one way to start one;
on it are built the fixtures ``scp_factory`` (Verification, optionally a scripted Study
Root FIND) and ``find_scp_factory`` (recorded C-FIND matches whose every identifying value
is known). exposcan's own demo lab (``exposcan.lab``) starts its SCPs itself: it is package
code and the tests use it as it ships."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pynetdicom import AE, evt

from exposcan.dicom.uids import VERIFICATION

MARKER = "ZZSYNTH"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"


@dataclass
class FindLog:
    """What a scripted C-FIND SCP saw: requests, and whether C-CANCEL arrived."""

    requests: int = 0
    levels: list[str] = field(default_factory=list)
    sent: int = 0
    cancelled: bool = False


def synthetic_match(index: int) -> Any:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    match = Dataset()
    match.QueryRetrieveLevel = "STUDY"
    match.PatientName = f"{MARKER}^PATIENT{index:05d}"
    match.PatientID = f"{MARKER}{index:06d}"
    match.StudyInstanceUID = generate_uid()
    return match


class ScpLauncher:
    """Starts pynetdicom SCPs on 127.0.0.1 (a free port each), with short timeouts (so a
    scan that misbehaves cannot hold a test) and at most four associations at once;
    :meth:`close` shuts down every one it started."""

    def __init__(self) -> None:
        self.servers: list[Any] = []

    def start(
        self,
        ae_title: str,
        *,
        contexts: Sequence[str],
        handlers: Sequence[tuple[Any, Any]],
        require_called_aet: bool = False,
        require_calling_aet: Sequence[str] = (),
        implementation: tuple[str, str] | None = None,
    ) -> Any:
        """A running server (``server_address[1]`` is its port) offering ``contexts`` as
        SCP, ``handlers`` its pynetdicom event handlers; ``implementation`` is the class UID
        and version name it announces instead of pynetdicom's."""
        ae = AE(ae_title=ae_title)
        ae.require_called_aet = require_called_aet
        ae.require_calling_aet = list(require_calling_aet)
        if implementation is not None:
            ae.implementation_class_uid, ae.implementation_version_name = implementation
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.maximum_associations = 4
        for uid in contexts:
            ae.add_supported_context(uid)
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=list(handlers))
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
        self.servers.clear()


@pytest.fixture
def scp_launcher() -> Iterator[ScpLauncher]:
    launcher = ScpLauncher()
    try:
        yield launcher
    finally:
        launcher.close()


@pytest.fixture
def scp_factory(scp_launcher: ScpLauncher) -> Callable[..., int]:
    """Start pynetdicom SCPs on free loopback ports; returns their port.

    ``find_matches=N`` adds Study Root FIND that streams N synthetic matches
    (patients carry the ``MARKER``); ``honour_cancel=False`` keeps streaming
    after C-CANCEL. ``find_log`` records what the SCP saw.
    """

    def start(
        ae_title: str = "TEST-SCP",
        *,
        contexts: tuple[str, ...] = (VERIFICATION,),
        require_called_aet: bool = False,
        require_calling_aet: tuple[str, ...] = (),
        echo_status: int = 0x0000,
        find_matches: int | None = None,
        find_status: int | None = None,
        honour_cancel: bool = True,
        find_log: FindLog | None = None,
        find_delay: float = 0.001,
    ) -> int:
        log = find_log if find_log is not None else FindLog()

        def on_find(event: Any) -> Any:
            log.requests += 1
            log.levels.append(str(event.identifier.QueryRetrieveLevel))
            if find_status is not None:
                yield find_status, None
                return
            for index in range(find_matches or 0):
                if event.is_cancelled:
                    log.cancelled = True
                    if honour_cancel:
                        yield 0xFE00, None
                        return
                log.sent += 1
                time.sleep(find_delay)  # a database behind it; also lets C-CANCEL be read
                yield 0xFF00, synthetic_match(index)
            yield 0x0000, None

        offered = list(contexts)
        handlers = [(evt.EVT_C_ECHO, lambda event: echo_status)]
        if find_matches is not None or find_status is not None:
            offered.append(STUDY_ROOT_FIND)
            handlers.append((evt.EVT_C_FIND, on_find))
        server = scp_launcher.start(
            ae_title,
            contexts=offered,
            handlers=handlers,
            require_called_aet=require_called_aet,
            require_calling_aet=require_calling_aet,
        )
        return int(server.server_address[1])

    return start


# --------------------------------------------------------------------------- recorded C-FIND SCPs

#: Every identifying value a :func:`find_scp_factory` SCP put into a match, in this process.
SCP_MATCH_STRINGS: set[str] = {MARKER}


@dataclass
class FindScp:
    """A running pynetdicom Q/R FIND SCP and everything it could have disclosed."""

    port: int
    ae_title: str
    models: tuple[str, ...]
    matches: int
    log: FindLog
    #: names, IDs, birth dates, accession numbers and study UIDs of every match
    strings: frozenset[str]


def recorded_matches(count: int, level: str, *, start: int = 0) -> tuple[list[Any], set[str]]:
    """``count`` synthetic matches at ``level`` (PATIENT or STUDY) and their identifying values.

    Names, IDs and accession numbers carry :data:`MARKER`; birth dates (1901-1930) and
    study UIDs do not, so they are returned to be searched for one by one.
    """
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    matches: list[Any] = []
    strings: set[str] = set()
    for index in range(start, start + count):
        match = Dataset()
        match.QueryRetrieveLevel = level
        match.PatientName = f"{MARKER}^FIND{index:05d}"
        match.PatientID = f"{MARKER}F{index:06d}"
        match.PatientBirthDate = f"{1901 + index % 30:04d}{1 + index % 12:02d}{1 + index % 28:02d}"
        values = [str(match.PatientName), match.PatientID, match.PatientBirthDate]
        values.append(values[0].replace("^", " "))
        if level == "STUDY":
            match.StudyInstanceUID = generate_uid()
            match.AccessionNumber = f"{MARKER}N{index:06d}"
            values += [match.StudyInstanceUID, match.AccessionNumber]
        matches.append(match)
        strings.update(values)
    return matches, strings


@pytest.fixture
def find_scp_factory(scp_launcher: ScpLauncher) -> Callable[..., FindScp]:
    """pynetdicom SCPs that offer Verification and the given Q/R FIND models only.

    Each answers C-FIND with ``matches`` pending responses built before it starts (so
    every identifying value is known to the leak checks: :data:`SCP_MATCH_STRINGS`),
    at the level the request asks for, and stops at C-CANCEL. Always shut down.
    """

    def start(
        *,
        models: tuple[str, ...] = (STUDY_ROOT_FIND,),
        matches: int = 5,
        ae_title: str = "FIND-SCP",
        delay: float = 0.0,
    ) -> FindScp:
        by_level = {}
        strings: set[str] = set()
        for offset, level in enumerate(("PATIENT", "STUDY")):
            by_level[level], seen = recorded_matches(matches, level, start=offset * matches)
            strings |= seen
        SCP_MATCH_STRINGS.update(strings)
        log = FindLog()

        def on_find(event: Any) -> Any:
            level = str(event.identifier.QueryRetrieveLevel)
            log.requests += 1
            log.levels.append(level)
            for match in by_level.get(level, ()):
                if event.is_cancelled:
                    log.cancelled = True
                    yield 0xFE00, None
                    return
                log.sent += 1
                if delay:
                    time.sleep(delay)
                yield 0xFF00, match
            yield 0x0000, None

        server = scp_launcher.start(
            ae_title,
            contexts=(VERIFICATION, *models),
            handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000), (evt.EVT_C_FIND, on_find)],
        )
        return FindScp(
            port=int(server.server_address[1]),
            ae_title=ae_title,
            models=models,
            matches=matches,
            log=log,
            strings=frozenset(strings),
        )

    return start

"""The hostile peers of issue 5, as scripts for :func:`tests.support.hostile.hostile_peers`:
name -> (script, the statuses a probe may end with, the exposure it must report). One table
for the per-peer tests and the combined scan (tests/network/test_hostile.py) and the scan
over TLS and plain sockets together (tests/network/test_socket_hygiene.py)."""

from __future__ import annotations

from exposcan.vocabulary import Exposure, Status
from tests.support.hostile import ABORT, FIND_CANCELLED, FIND_CONTEXTS, RELEASE_RP, Stream
from tests.support.pdu import associate_ac, echo_rsp, item, pdu

S, E = Status, Exposure
ECHO_THEN_RELEASE = [("recv",), ("send", associate_ac()), ("recv",), ("send", echo_rsp())]
TLS_SERVER_HELLO = bytes.fromhex("160303002a020000260303") + bytes(32) + b"\x00\x13\x01\x00"
#: Accept Verification and Study Root FIND, answer the C-ECHO, read the C-FIND-RQ.
FIND_OPEN = [
    ("recv",),
    ("send", associate_ac(contexts=FIND_CONTEXTS)),
    ("recv",),
    ("send", echo_rsp()),
    ("recv-find",),
]
UNTIL_CANCEL = ("stream", Stream(until_cancel=True))
AC_NO_APP_CONTEXT = associate_ac(include_app_context=False)

HOSTILE: dict[str, tuple[list[tuple], set[Status], Exposure]] = {
    "tarpit": ([("sleep", 60)], {S.IO_TIMEOUT}, E.NONE),
    "slow-drip": ([("recv",), ("drip", associate_ac(), 0.5)], {S.IO_TIMEOUT}, E.NONE),
    "ssh-banner": ([("send", b"SSH-2.0-OpenSSH_9.6\r\n"), ("drain",)], {S.PROTOCOL_ERROR}, E.NONE),
    "smtp-banner": (
        [("send", b"220 mail ESMTP ready\r\n"), ("drain",)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "http": (
        [("recv",), ("send", b"HTTP/1.1 400 Bad Request\r\n\r\n"), ("close",)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "tls-server-hello": (
        [("recv",), ("send", TLS_SERVER_HELLO), ("sleep", 5)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "gigabyte-header-then-stall": (
        [("recv",), ("send", b"\x02\x00\xff\xff\xff\xff"), ("sleep", 60)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "header-then-eof": (
        [("recv",), ("send", associate_ac()[:20]), ("close",)],
        {S.CONNECTION_CLOSED},
        E.NONE,
    ),
    "header-then-rst": (
        [("recv",), ("send", associate_ac()[:20]), ("rst",)],
        {S.CONNECTION_CLOSED},
        E.NONE,
    ),
    "ac-truncated-item": (
        [("recv",), ("send", pdu(0x02, associate_ac()[6:74] + item(0x10, b"1.2.840")[:-2]))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-without-user-information": (
        [("recv",), ("send", associate_ac(include_user_info=False))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-without-max-length": (
        [("recv",), ("send", associate_ac(max_length=None))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-context-never-proposed": (
        [("recv",), ("send", associate_ac(contexts=((2, 0),)))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-max-length-1": (
        [("recv",), ("send", associate_ac(max_length=1))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-wrong-protocol-version": (
        [("recv",), ("send", associate_ac(version=2)), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    "ac-max-length-0": (
        [("recv",), ("send", associate_ac(max_length=0)), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    "ac-max-length-4g": (
        [("recv",), ("send", associate_ac(max_length=2**32 - 1)), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    "abort-after-request": ([("recv",), ("send", ABORT), ("close",)], {S.SUCCESS}, E.PROTECTED),
    "rst-after-request": ([("recv",), ("rst",)], {S.CONNECTION_CLOSED}, E.NONE),
    "abort-after-echo-request": (
        [("recv",), ("send", associate_ac()), ("recv",), ("send", ABORT)],
        {S.SUCCESS},
        E.PROTECTED,
    ),
    "rst-after-echo-request": (
        [("recv",), ("send", associate_ac()), ("recv",), ("rst",)],
        {S.CONNECTION_CLOSED},
        E.PROTECTED,
    ),
    "garbage-p-data": (
        [("recv",), ("send", associate_ac()), ("recv",), ("send", pdu(0x04, b"\0\0\0\2\1\3"))],
        {S.PROTOCOL_ERROR},
        E.PROTECTED,
    ),
    "abort-after-release-request": (
        [*ECHO_THEN_RELEASE, ("recv",), ("send", ABORT)],
        {S.SUCCESS},
        E.ECHO,
    ),
    "rst-after-release-request": ([*ECHO_THEN_RELEASE, ("recv",), ("rst",)], {S.SUCCESS}, E.ECHO),
    "open-after-release-reply": (
        [*ECHO_THEN_RELEASE, ("recv",), ("send", RELEASE_RP), ("sleep", 60)],
        {S.SUCCESS},
        E.ECHO,
    ),
    "silent-after-release-request": (
        [*ECHO_THEN_RELEASE, ("recv",), ("sleep", 60)],
        {S.SUCCESS},
        E.ECHO,
    ),
    # A-ABORT or RST before the A-ASSOCIATE-RQ is even read.
    "rst-on-accept": ([("rst",)], {S.CONNECTION_CLOSED}, E.NONE),
    "close-on-accept": ([("close",)], {S.CONNECTION_CLOSED}, E.NONE),
    "abort-on-connect": ([("send", ABORT), ("drain",)], {S.SUCCESS}, E.PROTECTED),
    # PS3.8 Table 9-17 makes the item mandatory; the peer still answers C-ECHO (DICOM).
    "ac-without-application-context": (
        [("recv",), ("send", AC_NO_APP_CONTEXT), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    # C-FIND: streams until C-CANCEL (then the final response), or never stops.
    "find-streams-until-cancel": (
        [*FIND_OPEN, UNTIL_CANCEL, ("final", FIND_CANCELLED), ("recv",), ("send", RELEASE_RP)],
        {S.SUCCESS},
        E.QUERY,
    ),
    "find-ignores-cancel": ([*FIND_OPEN, ("stream", Stream())], {S.SUCCESS}, E.QUERY),
    # A-ABORT or RST during C-FIND: after 5 pending matches, or after the C-CANCEL-RQ.
    "abort-during-find": (
        [*FIND_OPEN, ("stream", Stream(count=5)), ("send", ABORT), ("drain",)],
        {S.SUCCESS},
        E.QUERY,
    ),
    "rst-during-find": (
        [*FIND_OPEN, ("stream", Stream(count=5)), ("rst",)],
        {S.CONNECTION_CLOSED},
        E.QUERY,
    ),
    "abort-after-cancel": (
        [*FIND_OPEN, UNTIL_CANCEL, ("send", ABORT), ("drain",)],
        {S.SUCCESS},
        E.QUERY,
    ),
    "rst-after-cancel": ([*FIND_OPEN, UNTIL_CANCEL, ("rst",)], {S.CONNECTION_CLOSED}, E.QUERY),
}

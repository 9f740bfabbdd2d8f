"""Golden DICOM upper-layer PDUs, written out byte by byte.

In the style of pynetdicom's ``tests/encoded_pdu_items.py``: every PDU is a run of
concatenated ``b"..."`` pieces, one field per line, each naming its field and the
table of the standard that lays it out. Nothing here is produced by the code under
test; the bytes were written by hand from PS3.8 (upper layer), PS3.7 (DIMSE and
user information sub-items) and PS3.5 (Implicit VR Little Endian).

Conventions: PDU and item lengths are big endian (PS3.8 §9.3.1); command set
elements are Implicit VR Little Endian, tag group and element each little endian
(PS3.5 §7.1.3, PS3.7 §6.3.1). "Length" always counts the bytes that follow it.
"""

from __future__ import annotations

# -- identities written into the golden bytes ------------------------------------

#: exposcan's identity, as it must appear on the wire (exposcan.dicom.uids).
EXPOSCAN_IMPLEMENTATION_CLASS_UID = "2.25.216473896422980046852998113168266513791.1"
EXPOSCAN_IMPLEMENTATION_VERSION_NAME = "EXPOSCAN_0.1.0"
#: A pynetdicom 3.0.4 acceptor's identity (pynetdicom.PYNETDICOM_IMPLEMENTATION_UID).
PEER_IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.9.3811.3.0.4"
PEER_IMPLEMENTATION_VERSION_NAME = "PYNETDICOM_304"
#: Maximum PDU lengths: what exposcan announces and what the peer announces.
EXPOSCAN_MAX_PDU_LENGTH = 16384
PEER_MAX_PDU_LENGTH = 16382


# == A-ASSOCIATE-RQ ================================================================
# What exposcan sends for request(called_ae_title="ANY-SCP", calling_ae_title=
# "EXPOSCAN", contexts=propose(["1.2.840.10008.1.1"])) with max PDU length 16384.
ASSOCIATE_RQ_VERIFICATION = (
    b"\x01"  # PDU-type A-ASSOCIATE-RQ (PS3.8 Table 9-11)
    b"\x00"  # reserved (PS3.8 Table 9-11)
    b"\x00\x00\x00\xf6"  # PDU-length 246 (PS3.8 Table 9-11)
    b"\x00\x01"  # protocol-version: bit 0 set, version 1 (PS3.8 Table 9-11)
    b"\x00\x00"  # reserved (PS3.8 Table 9-11)
    b"ANY-SCP         "  # called-AE-title, 16 bytes, space padded (PS3.8 Table 9-11)
    b"EXPOSCAN        "  # calling-AE-title, 16 bytes, space padded (PS3.8 Table 9-11)
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 32 bytes
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # (PS3.8 Table 9-11)
    # Application Context Item
    b"\x10"  # item-type application context (PS3.8 Table 9-12)
    b"\x00"  # reserved (PS3.8 Table 9-12)
    b"\x00\x15"  # item-length 21 (PS3.8 Table 9-12)
    b"1.2.840.10008.3.1.1.1"  # application-context-name, DICOM (PS3.7 Annex A.2.1)
    # Presentation Context Item, context 1
    b"\x20"  # item-type presentation context RQ (PS3.8 Table 9-13)
    b"\x00"  # reserved (PS3.8 Table 9-13)
    b"\x00\x45"  # item-length 69 (PS3.8 Table 9-13)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-13)
    b"\x00"  # reserved (PS3.8 Table 9-13)
    b"\x00"  # reserved (PS3.8 Table 9-13)
    b"\x00"  # reserved (PS3.8 Table 9-13)
    # - Abstract Syntax Sub-Item
    b"\x30"  # item-type abstract syntax (PS3.8 Table 9-14)
    b"\x00"  # reserved (PS3.8 Table 9-14)
    b"\x00\x11"  # item-length 17 (PS3.8 Table 9-14)
    b"1.2.840.10008.1.1"  # abstract-syntax-name: Verification SOP Class (PS3.8 Table 9-14)
    # - Transfer Syntax Sub-Item, first choice
    b"\x40"  # item-type transfer syntax (PS3.8 Table 9-15)
    b"\x00"  # reserved (PS3.8 Table 9-15)
    b"\x00\x13"  # item-length 19 (PS3.8 Table 9-15)
    b"1.2.840.10008.1.2.1"  # transfer-syntax-name: Explicit VR LE (PS3.8 Table 9-15)
    # - Transfer Syntax Sub-Item, second choice
    b"\x40"  # item-type transfer syntax (PS3.8 Table 9-15)
    b"\x00"  # reserved (PS3.8 Table 9-15)
    b"\x00\x11"  # item-length 17 (PS3.8 Table 9-15)
    b"1.2.840.10008.1.2"  # transfer-syntax-name: Implicit VR LE (PS3.8 Table 9-15)
    # User Information Item
    b"\x50"  # item-type user information (PS3.8 Table 9-16)
    b"\x00"  # reserved (PS3.8 Table 9-16)
    b"\x00\x4c"  # item-length 76 (PS3.8 Table 9-16)
    # - Maximum Length Sub-Item
    b"\x51"  # item-type maximum length (PS3.8 Table D.1-1)
    b"\x00"  # reserved (PS3.8 Table D.1-1)
    b"\x00\x04"  # item-length 4 (PS3.8 Table D.1-1)
    b"\x00\x00\x40\x00"  # maximum-length-received 16384 (PS3.8 Table D.1-1)
    # - Implementation Class UID Sub-Item
    b"\x52"  # item-type implementation class UID (PS3.7 Table D.3-1)
    b"\x00"  # reserved (PS3.7 Table D.3-1)
    b"\x00\x2e"  # item-length 46 (PS3.7 Table D.3-1)
    b"2.25.216473896422980046852998113168266513791.1"  # implementation-class-uid (D.3-1)
    # - Implementation Version Name Sub-Item
    b"\x55"  # item-type implementation version name (PS3.7 Table D.3-3)
    b"\x00"  # reserved (PS3.7 Table D.3-3)
    b"\x00\x0e"  # item-length 14 (PS3.7 Table D.3-3)
    b"EXPOSCAN_0.1.0"  # implementation-version-name (PS3.7 Table D.3-3)
)


# == A-ASSOCIATE-AC ================================================================
# A pynetdicom-like acceptor accepts context 1 with Implicit VR Little Endian.
ASSOCIATE_AC_IMPLICIT_VR_LE = (
    b"\x02"  # PDU-type A-ASSOCIATE-AC (PS3.8 Table 9-17)
    b"\x00"  # reserved (PS3.8 Table 9-17)
    b"\x00\x00\x00\xbc"  # PDU-length 188 (PS3.8 Table 9-17)
    b"\x00\x01"  # protocol-version: bit 0 set, version 1 (PS3.8 Table 9-17)
    b"\x00\x00"  # reserved (PS3.8 Table 9-17)
    b"ANY-SCP         "  # reserved, echoes the RQ called-AE-title (PS3.8 Table 9-17)
    b"EXPOSCAN        "  # reserved, echoes the RQ calling-AE-title (PS3.8 Table 9-17)
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 32 bytes
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # (PS3.8 Table 9-17)
    # Application Context Item
    b"\x10"  # item-type application context (PS3.8 Table 9-12)
    b"\x00"  # reserved (PS3.8 Table 9-12)
    b"\x00\x15"  # item-length 21 (PS3.8 Table 9-12)
    b"1.2.840.10008.3.1.1.1"  # application-context-name, DICOM (PS3.7 Annex A.2.1)
    # Presentation Context Item, context 1 accepted
    b"\x21"  # item-type presentation context AC (PS3.8 Table 9-18)
    b"\x00"  # reserved (PS3.8 Table 9-18)
    b"\x00\x19"  # item-length 25 (PS3.8 Table 9-18)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-18)
    b"\x00"  # reserved (PS3.8 Table 9-18)
    b"\x00"  # result/reason 0: acceptance (PS3.8 Table 9-18)
    b"\x00"  # reserved (PS3.8 Table 9-18)
    # - Transfer Syntax Sub-Item
    b"\x40"  # item-type transfer syntax (PS3.8 Table 9-19)
    b"\x00"  # reserved (PS3.8 Table 9-19)
    b"\x00\x11"  # item-length 17 (PS3.8 Table 9-19)
    b"1.2.840.10008.1.2"  # transfer-syntax-name: Implicit VR LE (PS3.8 Table 9-19)
    # User Information Item
    b"\x50"  # item-type user information (PS3.8 Table 9-20)
    b"\x00"  # reserved (PS3.8 Table 9-20)
    b"\x00\x3e"  # item-length 62 (PS3.8 Table 9-20)
    # - Maximum Length Sub-Item
    b"\x51"  # item-type maximum length (PS3.8 Table D.1-2)
    b"\x00"  # reserved (PS3.8 Table D.1-2)
    b"\x00\x04"  # item-length 4 (PS3.8 Table D.1-2)
    b"\x00\x00\x3f\xfe"  # maximum-length-received 16382 (PS3.8 Table D.1-2)
    # - Implementation Class UID Sub-Item
    b"\x52"  # item-type implementation class UID (PS3.7 Table D.3-2)
    b"\x00"  # reserved (PS3.7 Table D.3-2)
    b"\x00\x20"  # item-length 32 (PS3.7 Table D.3-2)
    b"1.2.826.0.1.3680043.9.3811.3.0.4"  # implementation-class-uid (PS3.7 Table D.3-2)
    # - Implementation Version Name Sub-Item
    b"\x55"  # item-type implementation version name (PS3.7 Table D.3-4)
    b"\x00"  # reserved (PS3.7 Table D.3-4)
    b"\x00\x0e"  # item-length 14 (PS3.7 Table D.3-4)
    b"PYNETDICOM_304"  # implementation-version-name (PS3.7 Table D.3-4)
)

#: Byte offsets into ASSOCIATE_AC_IMPLICIT_VR_LE that tests rewrite.
AC_OFFSET_CONTEXT_ID = 74 + 25 + 4  # presentation-context-ID of the context item
AC_OFFSET_RESULT = AC_OFFSET_CONTEXT_ID + 2  # its result/reason
AC_OFFSET_TS_ITEM = AC_OFFSET_CONTEXT_ID + 4  # its transfer syntax sub-item type
AC_OFFSET_USER_INFO = AC_OFFSET_TS_ITEM + 21  # the user information item type
AC_OFFSET_MAX_LENGTH_ITEM = AC_OFFSET_USER_INFO + 4  # the maximum length sub-item type

# The same acceptor rejects context 1: abstract syntax not supported.
ASSOCIATE_AC_CONTEXT_REJECTED = (
    b"\x02"  # PDU-type A-ASSOCIATE-AC (PS3.8 Table 9-17)
    b"\x00"  # reserved (PS3.8 Table 9-17)
    b"\x00\x00\x00\xbe"  # PDU-length 190 (PS3.8 Table 9-17)
    b"\x00\x01"  # protocol-version: bit 0 set, version 1 (PS3.8 Table 9-17)
    b"\x00\x00"  # reserved (PS3.8 Table 9-17)
    b"ANY-SCP         "  # reserved, echoes the RQ called-AE-title (PS3.8 Table 9-17)
    b"EXPOSCAN        "  # reserved, echoes the RQ calling-AE-title (PS3.8 Table 9-17)
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 32 bytes
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # (PS3.8 Table 9-17)
    # Application Context Item
    b"\x10"  # item-type application context (PS3.8 Table 9-12)
    b"\x00"  # reserved (PS3.8 Table 9-12)
    b"\x00\x15"  # item-length 21 (PS3.8 Table 9-12)
    b"1.2.840.10008.3.1.1.1"  # application-context-name, DICOM (PS3.7 Annex A.2.1)
    # Presentation Context Item, context 1 rejected
    b"\x21"  # item-type presentation context AC (PS3.8 Table 9-18)
    b"\x00"  # reserved (PS3.8 Table 9-18)
    b"\x00\x1b"  # item-length 27 (PS3.8 Table 9-18)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-18)
    b"\x00"  # reserved (PS3.8 Table 9-18)
    b"\x03"  # result/reason 3: abstract-syntax-not-supported (PS3.8 Table 9-18)
    b"\x00"  # reserved (PS3.8 Table 9-18)
    # - Transfer Syntax Sub-Item: "not significant" when rejected (PS3.8 Table 9-18)
    b"\x40"  # item-type transfer syntax (PS3.8 Table 9-19)
    b"\x00"  # reserved (PS3.8 Table 9-19)
    b"\x00\x13"  # item-length 19 (PS3.8 Table 9-19)
    b"1.2.840.10008.1.2.1"  # transfer-syntax-name: first one proposed (PS3.8 Table 9-19)
    # User Information Item
    b"\x50"  # item-type user information (PS3.8 Table 9-20)
    b"\x00"  # reserved (PS3.8 Table 9-20)
    b"\x00\x3e"  # item-length 62 (PS3.8 Table 9-20)
    # - Maximum Length Sub-Item
    b"\x51"  # item-type maximum length (PS3.8 Table D.1-2)
    b"\x00"  # reserved (PS3.8 Table D.1-2)
    b"\x00\x04"  # item-length 4 (PS3.8 Table D.1-2)
    b"\x00\x00\x3f\xfe"  # maximum-length-received 16382 (PS3.8 Table D.1-2)
    # - Implementation Class UID Sub-Item
    b"\x52"  # item-type implementation class UID (PS3.7 Table D.3-2)
    b"\x00"  # reserved (PS3.7 Table D.3-2)
    b"\x00\x20"  # item-length 32 (PS3.7 Table D.3-2)
    b"1.2.826.0.1.3680043.9.3811.3.0.4"  # implementation-class-uid (PS3.7 Table D.3-2)
    # - Implementation Version Name Sub-Item
    b"\x55"  # item-type implementation version name (PS3.7 Table D.3-4)
    b"\x00"  # reserved (PS3.7 Table D.3-4)
    b"\x00\x0e"  # item-length 14 (PS3.7 Table D.3-4)
    b"PYNETDICOM_304"  # implementation-version-name (PS3.7 Table D.3-4)
)


# == A-ASSOCIATE-RJ ================================================================
# (result, source, reason) = (1, 1, 7): rejected-permanent; service-user; called AE.
ASSOCIATE_RJ_CALLED_AE = (
    b"\x03"  # PDU-type A-ASSOCIATE-RJ (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x01"  # result 1: rejected-permanent (PS3.8 Table 9-21)
    b"\x01"  # source 1: DICOM UL service-user (PS3.8 Table 9-21)
    b"\x07"  # reason/diag. 7: called-AE-title-not-recognized (PS3.8 Table 9-21)
)

# (1, 1, 3): rejected-permanent; service-user; calling AE title not recognised.
ASSOCIATE_RJ_CALLING_AE = (
    b"\x03"  # PDU-type A-ASSOCIATE-RJ (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x01"  # result 1: rejected-permanent (PS3.8 Table 9-21)
    b"\x01"  # source 1: DICOM UL service-user (PS3.8 Table 9-21)
    b"\x03"  # reason/diag. 3: calling-AE-title-not-recognized (PS3.8 Table 9-21)
)

# (2, 2, 2): rejected-transient; service-provider (ACSE); protocol version.
ASSOCIATE_RJ_PROTOCOL_VERSION = (
    b"\x03"  # PDU-type A-ASSOCIATE-RJ (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x02"  # result 2: rejected-transient (PS3.8 Table 9-21)
    b"\x02"  # source 2: DICOM UL service-provider, ACSE related (PS3.8 Table 9-21)
    b"\x02"  # reason/diag. 2: protocol-version-not-supported (PS3.8 Table 9-21)
)

# (2, 3, 1): rejected-transient; service-provider (presentation); congestion.
ASSOCIATE_RJ_CONGESTION = (
    b"\x03"  # PDU-type A-ASSOCIATE-RJ (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-21)
    b"\x00"  # reserved (PS3.8 Table 9-21)
    b"\x02"  # result 2: rejected-transient (PS3.8 Table 9-21)
    b"\x03"  # source 3: DICOM UL service-provider, presentation (PS3.8 Table 9-21)
    b"\x01"  # reason/diag. 1: temporary-congestion (PS3.8 Table 9-21)
)


# == A-ABORT =======================================================================
# From the peer's upper layer (service-provider), reason 2: unexpected PDU.
ABORT_PROVIDER_UNEXPECTED_PDU = (
    b"\x07"  # PDU-type A-ABORT (PS3.8 Table 9-26)
    b"\x00"  # reserved (PS3.8 Table 9-26)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-26)
    b"\x00"  # reserved (PS3.8 Table 9-26)
    b"\x00"  # reserved (PS3.8 Table 9-26)
    b"\x02"  # source 2: DICOM UL service-provider (PS3.8 Table 9-26)
    b"\x02"  # reason/diag. 2: unexpected-PDU (PS3.8 Table 9-26)
)

# From the service-user (exposcan's own abort() sends exactly this).
ABORT_USER = (
    b"\x07"  # PDU-type A-ABORT (PS3.8 Table 9-26)
    b"\x00"  # reserved (PS3.8 Table 9-26)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-26)
    b"\x00"  # reserved (PS3.8 Table 9-26)
    b"\x00"  # reserved (PS3.8 Table 9-26)
    b"\x00"  # source 0: DICOM UL service-user (PS3.8 Table 9-26)
    b"\x00"  # reason/diag. 0: not significant for a user abort (PS3.8 Table 9-26)
)


# == A-RELEASE-RQ / A-RELEASE-RP ===================================================
RELEASE_RQ = (
    b"\x05"  # PDU-type A-RELEASE-RQ (PS3.8 Table 9-24)
    b"\x00"  # reserved (PS3.8 Table 9-24)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-24)
    b"\x00\x00\x00\x00"  # reserved, 4 bytes (PS3.8 Table 9-24)
)

RELEASE_RP = (
    b"\x06"  # PDU-type A-RELEASE-RP (PS3.8 Table 9-25)
    b"\x00"  # reserved (PS3.8 Table 9-25)
    b"\x00\x00\x00\x04"  # PDU-length 4 (PS3.8 Table 9-25)
    b"\x00\x00\x00\x00"  # reserved, 4 bytes (PS3.8 Table 9-25)
)


# == Command sets (Implicit VR Little Endian, group 0000) ==========================
# C-ECHO-RSP, status Success, answering message id 1 (PS3.7 Table 9.3-13).
C_ECHO_RSP_COMMAND_SET = (
    b"\x00\x00\x00\x00"  # tag (0000,0000) Command Group Length (PS3.7 Table 9.3-13)
    b"\x04\x00\x00\x00"  # value length 4, UL
    b"\x42\x00\x00\x00"  # 66: bytes of the elements that follow
    b"\x00\x00\x02\x00"  # tag (0000,0002) Affected SOP Class UID (PS3.7 Table 9.3-13)
    b"\x12\x00\x00\x00"  # value length 18, UI
    b"1.2.840.10008.1.1\x00"  # Verification SOP Class, NUL padded to even (PS3.5 §9.1)
    b"\x00\x00\x00\x01"  # tag (0000,0100) Command Field (PS3.7 Table 9.3-13)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x30\x80"  # 0x8030: C-ECHO-RSP (PS3.7 Table E.1-1)
    b"\x00\x00\x20\x01"  # tag (0000,0120) Message ID Being Responded To (PS3.7 Table 9.3-13)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 1
    b"\x00\x00\x00\x08"  # tag (0000,0800) Command Data Set Type (PS3.7 Table 9.3-13)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x01"  # 0x0101: no data set follows (PS3.7 Table E.1-1)
    b"\x00\x00\x00\x09"  # tag (0000,0900) Status (PS3.7 Table 9.3-13)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x00\x00"  # 0x0000: Success (PS3.7 Annex C)
)

# C-FIND-RSP, status Pending, answering message id 1, a data set (identifier) follows
# (PS3.7 Table 9.1-3 for the C-FIND-RSP fields).
C_FIND_RSP_PENDING_COMMAND_SET = (
    b"\x00\x00\x00\x00"  # tag (0000,0000) Command Group Length (PS3.7 Table 9.1-3)
    b"\x04\x00\x00\x00"  # value length 4, UL
    b"\x4c\x00\x00\x00"  # 76: bytes of the elements that follow
    b"\x00\x00\x02\x00"  # tag (0000,0002) Affected SOP Class UID (PS3.7 Table 9.1-3)
    b"\x1c\x00\x00\x00"  # value length 28, UI
    b"1.2.840.10008.5.1.4.1.2.1.1\x00"  # Patient Root Q/R FIND, NUL padded (PS3.4 C.6)
    b"\x00\x00\x00\x01"  # tag (0000,0100) Command Field (PS3.7 Table 9.1-3)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x20\x80"  # 0x8020: C-FIND-RSP (PS3.7 Table E.1-1)
    b"\x00\x00\x20\x01"  # tag (0000,0120) Message ID Being Responded To (PS3.7 Table 9.1-3)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 1
    b"\x00\x00\x00\x08"  # tag (0000,0800) Command Data Set Type (PS3.7 Table 9.1-3)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 0x0001: anything but 0x0101, a data set follows (PS3.7 Table E.1-1)
    b"\x00\x00\x00\x09"  # tag (0000,0900) Status (PS3.7 Table 9.1-3)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x00\xff"  # 0xFF00: Pending (PS3.4 Table C.4-1)
)


# == P-DATA-TF =====================================================================
# C-ECHO-RSP (above) in one presentation data value.
P_DATA_C_ECHO_RSP = (
    b"\x04"  # PDU-type P-DATA-TF (PS3.8 Table 9-22)
    b"\x00"  # reserved (PS3.8 Table 9-22)
    b"\x00\x00\x00\x54"  # PDU-length 84 (PS3.8 Table 9-22)
    # Presentation Data Value Item
    b"\x00\x00\x00\x50"  # item-length 80 (PS3.8 Table 9-23)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-23)
    b"\x03"  # message control header: command, last fragment (PS3.8 Annex E.2)
    b"\x00\x00\x00\x00"  # (0000,0000) Command Group Length (PS3.7 Table 9.3-13)
    b"\x04\x00\x00\x00"  # value length 4, UL
    b"\x42\x00\x00\x00"  # 66
    b"\x00\x00\x02\x00"  # (0000,0002) Affected SOP Class UID
    b"\x12\x00\x00\x00"  # value length 18, UI
    b"1.2.840.10008.1.1\x00"  # Verification SOP Class
    b"\x00\x00\x00\x01"  # (0000,0100) Command Field
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x30\x80"  # 0x8030: C-ECHO-RSP (PS3.7 Table E.1-1)
    b"\x00\x00\x20\x01"  # (0000,0120) Message ID Being Responded To
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 1
    b"\x00\x00\x00\x08"  # (0000,0800) Command Data Set Type
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x01"  # 0x0101: no data set
    b"\x00\x00\x00\x09"  # (0000,0900) Status
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x00\x00"  # 0x0000: Success
)

# The same command set split into two PDVs carried by two P-DATA-TF PDUs; the cut
# falls inside the Affected SOP Class UID value, after "1.2.840.10".
P_DATA_C_ECHO_RSP_PART_1 = (
    b"\x04"  # PDU-type P-DATA-TF (PS3.8 Table 9-22)
    b"\x00"  # reserved (PS3.8 Table 9-22)
    b"\x00\x00\x00\x24"  # PDU-length 36 (PS3.8 Table 9-22)
    # Presentation Data Value Item
    b"\x00\x00\x00\x20"  # item-length 32 (PS3.8 Table 9-23)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-23)
    b"\x01"  # message control header: command, not the last fragment (PS3.8 Annex E.2)
    b"\x00\x00\x00\x00"  # (0000,0000) Command Group Length (PS3.7 Table 9.3-13)
    b"\x04\x00\x00\x00"  # value length 4, UL
    b"\x42\x00\x00\x00"  # 66
    b"\x00\x00\x02\x00"  # (0000,0002) Affected SOP Class UID
    b"\x12\x00\x00\x00"  # value length 18, UI
    b"1.2.840.10"  # first 10 bytes of the UID value
)

P_DATA_C_ECHO_RSP_PART_2 = (
    b"\x04"  # PDU-type P-DATA-TF (PS3.8 Table 9-22)
    b"\x00"  # reserved (PS3.8 Table 9-22)
    b"\x00\x00\x00\x36"  # PDU-length 54 (PS3.8 Table 9-22)
    # Presentation Data Value Item
    b"\x00\x00\x00\x32"  # item-length 50 (PS3.8 Table 9-23)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-23)
    b"\x03"  # message control header: command, last fragment (PS3.8 Annex E.2)
    b"008.1.1\x00"  # the UID value's remaining 8 bytes
    b"\x00\x00\x00\x01"  # (0000,0100) Command Field
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x30\x80"  # 0x8030: C-ECHO-RSP (PS3.7 Table E.1-1)
    b"\x00\x00\x20\x01"  # (0000,0120) Message ID Being Responded To
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 1
    b"\x00\x00\x00\x08"  # (0000,0800) Command Data Set Type
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x01"  # 0x0101: no data set
    b"\x00\x00\x00\x09"  # (0000,0900) Status
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x00\x00"  # 0x0000: Success
)

# C-ECHO-RQ as exposcan sends it: context 1, message id 1 (PS3.7 Table 9.3-12).
P_DATA_C_ECHO_RQ = (
    b"\x04"  # PDU-type P-DATA-TF (PS3.8 Table 9-22)
    b"\x00"  # reserved (PS3.8 Table 9-22)
    b"\x00\x00\x00\x4a"  # PDU-length 74 (PS3.8 Table 9-22)
    # Presentation Data Value Item
    b"\x00\x00\x00\x46"  # item-length 70 (PS3.8 Table 9-23)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-23)
    b"\x03"  # message control header: command, last fragment (PS3.8 Annex E.2)
    b"\x00\x00\x00\x00"  # (0000,0000) Command Group Length (PS3.7 Table 9.3-12)
    b"\x04\x00\x00\x00"  # value length 4, UL
    b"\x38\x00\x00\x00"  # 56: bytes of the elements that follow
    b"\x00\x00\x02\x00"  # (0000,0002) Affected SOP Class UID (PS3.7 Table 9.3-12)
    b"\x12\x00\x00\x00"  # value length 18, UI
    b"1.2.840.10008.1.1\x00"  # Verification SOP Class, NUL padded to even (PS3.5 §9.1)
    b"\x00\x00\x00\x01"  # (0000,0100) Command Field (PS3.7 Table 9.3-12)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x30\x00"  # 0x0030: C-ECHO-RQ (PS3.7 Table E.1-1)
    b"\x00\x00\x10\x01"  # (0000,0110) Message ID (PS3.7 Table 9.3-12)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 1
    b"\x00\x00\x00\x08"  # (0000,0800) Command Data Set Type (PS3.7 Table 9.3-12)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x01"  # 0x0101: no data set follows (PS3.7 Table E.1-1)
)


# == What exposcan sends beyond C-ECHO ===============================================

# -- A-ASSOCIATE-RQ with the whole service map ---------------------------------------
# What exposcan proposes in its first association (exposcan.dicom.services.SERVICES, in
# order, numbered 1, 3, 5, ...): request(called_ae_title="ANY-SCP", calling_ae_title=
# "EXPOSCAN", contexts=propose([s.uid for s in SERVICES])) with max PDU length 16384.
# Every context offers the same two transfer syntaxes as ASSOCIATE_RQ_VERIFICATION.

_TS_EXPLICIT_VR_LE = (
    b"\x40"  # item-type transfer syntax (PS3.8 Table 9-15)
    b"\x00"  # reserved (PS3.8 Table 9-15)
    b"\x00\x13"  # item-length 19 (PS3.8 Table 9-15)
    b"1.2.840.10008.1.2.1"  # transfer-syntax-name: Explicit VR LE (PS3.5 Annex A.2)
)
_TS_IMPLICIT_VR_LE = (
    b"\x40"  # item-type transfer syntax (PS3.8 Table 9-15)
    b"\x00"  # reserved (PS3.8 Table 9-15)
    b"\x00\x11"  # item-length 17 (PS3.8 Table 9-15)
    b"1.2.840.10008.1.2"  # transfer-syntax-name: Implicit VR LE (PS3.5 Annex A.1)
)


def _rq_context(context_id: bytes, item_length: bytes, name_length: bytes, name: bytes) -> bytes:
    """One Presentation Context Item of an A-ASSOCIATE-RQ (PS3.8 Table 9-13), every field
    given literally by the caller; item-length = 4 + (4 + name) + 23 + 21."""
    return (
        b"\x20"  # item-type presentation context RQ (PS3.8 Table 9-13)
        b"\x00"  # reserved (PS3.8 Table 9-13)
        + item_length  # item-length (PS3.8 Table 9-13)
        + context_id  # presentation-context-ID, an odd integer (PS3.8 Table 9-13)
        + b"\x00\x00\x00"  # reserved, 3 bytes (PS3.8 Table 9-13)
        + b"\x30"  # item-type abstract syntax (PS3.8 Table 9-14)
        + b"\x00"  # reserved (PS3.8 Table 9-14)
        + name_length  # item-length (PS3.8 Table 9-14)
        + name  # abstract-syntax-name: a SOP Class UID (PS3.4, PS3.6 Annex A)
        + _TS_EXPLICIT_VR_LE
        + _TS_IMPLICIT_VR_LE
    )


#: (context id, SOP Class UID, short name) as proposed, from PS3.4 / PS3.6 Annex A.
SERVICE_MAP_CONTEXTS = (
    (1, "1.2.840.10008.1.1", "verification"),  # Verification (PS3.4 Annex A)
    (3, "1.2.840.10008.5.1.4.1.2.2.1", "study-root-find"),  # Study Root Q/R FIND (C.6.2)
    (5, "1.2.840.10008.5.1.4.1.2.1.1", "patient-root-find"),  # Patient Root Q/R FIND (C.6.1)
    (7, "1.2.840.10008.5.1.4.31", "worklist-find"),  # Modality Worklist FIND (K.6.1)
    (9, "1.2.840.10008.5.1.4.1.2.2.2", "study-root-move"),  # Study Root Q/R MOVE
    (11, "1.2.840.10008.5.1.4.1.2.1.2", "patient-root-move"),  # Patient Root Q/R MOVE
    (13, "1.2.840.10008.5.1.4.1.2.2.3", "study-root-get"),  # Study Root Q/R GET
    (15, "1.2.840.10008.5.1.4.1.2.1.3", "patient-root-get"),  # Patient Root Q/R GET
    (17, "1.2.840.10008.5.1.4.1.1.2", "ct-storage"),  # CT Image Storage (B.5)
    (19, "1.2.840.10008.5.1.4.1.1.4", "mr-storage"),  # MR Image Storage
    (21, "1.2.840.10008.5.1.4.1.1.1", "cr-storage"),  # Computed Radiography Image Storage
    (23, "1.2.840.10008.5.1.4.1.1.1.1", "dx-storage"),  # Digital X-Ray, For Presentation
    (25, "1.2.840.10008.5.1.4.1.1.1.2", "mg-storage"),  # Digital Mammography, Presentation
    (27, "1.2.840.10008.5.1.4.1.1.6.1", "us-storage"),  # Ultrasound Image Storage
    (29, "1.2.840.10008.5.1.4.1.1.7", "sc-storage"),  # Secondary Capture Image Storage
    (31, "1.2.840.10008.5.1.4.1.1.481.1", "rt-image-storage"),  # RT Image Storage
    (33, "1.2.840.10008.5.1.4.1.1.481.2", "rt-dose-storage"),  # RT Dose Storage
    (35, "1.2.840.10008.5.1.4.1.1.88.11", "basic-sr-storage"),  # Basic Text SR Storage
    (37, "1.2.840.10008.5.1.4.1.1.88.22", "enhanced-sr-storage"),  # Enhanced SR Storage
    (39, "1.2.840.10008.5.1.4.1.1.104.1", "pdf-storage"),  # Encapsulated PDF Storage
    (41, "1.2.840.10008.5.1.4.1.1.128", "pet-storage"),  # PET Image Storage
    (43, "1.2.840.10008.5.1.4.1.1.20", "nm-storage"),  # Nuclear Medicine Image Storage
    (45, "1.2.840.10008.5.1.4.1.1.12.1", "xa-storage"),  # X-Ray Angiographic Image Storage
)

ASSOCIATE_RQ_SERVICE_MAP = (
    b"\x01"  # PDU-type A-ASSOCIATE-RQ (PS3.8 Table 9-11)
    b"\x00"  # reserved (PS3.8 Table 9-11)
    b"\x00\x00\x08\x15"  # PDU-length 2069 (PS3.8 Table 9-11)
    b"\x00\x01"  # protocol-version: bit 0 set, version 1 (PS3.8 Table 9-11)
    b"\x00\x00"  # reserved (PS3.8 Table 9-11)
    b"ANY-SCP         "  # called-AE-title, 16 bytes, space padded (PS3.8 Table 9-11)
    b"EXPOSCAN        "  # calling-AE-title, 16 bytes, space padded (PS3.8 Table 9-11)
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # reserved, 32 bytes
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # (PS3.8 Table 9-11)
    # Application Context Item
    b"\x10"  # item-type application context (PS3.8 Table 9-12)
    b"\x00"  # reserved (PS3.8 Table 9-12)
    b"\x00\x15"  # item-length 21 (PS3.8 Table 9-12)
    b"1.2.840.10008.3.1.1.1"  # application-context-name, DICOM (PS3.7 Annex A.2.1)
    # Presentation Context Items: (id, item-length, abstract-syntax item-length, UID)
    + _rq_context(b"\x01", b"\x00\x45", b"\x00\x11", b"1.2.840.10008.1.1")
    + _rq_context(b"\x03", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.2.2.1")
    + _rq_context(b"\x05", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.2.1.1")
    + _rq_context(b"\x07", b"\x00\x4a", b"\x00\x16", b"1.2.840.10008.5.1.4.31")
    + _rq_context(b"\x09", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.2.2.2")
    + _rq_context(b"\x0b", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.2.1.2")
    + _rq_context(b"\x0d", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.2.2.3")
    + _rq_context(b"\x0f", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.2.1.3")
    + _rq_context(b"\x11", b"\x00\x4d", b"\x00\x19", b"1.2.840.10008.5.1.4.1.1.2")
    + _rq_context(b"\x13", b"\x00\x4d", b"\x00\x19", b"1.2.840.10008.5.1.4.1.1.4")
    + _rq_context(b"\x15", b"\x00\x4d", b"\x00\x19", b"1.2.840.10008.5.1.4.1.1.1")
    + _rq_context(b"\x17", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.1.1.1")
    + _rq_context(b"\x19", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.1.1.2")
    + _rq_context(b"\x1b", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.1.6.1")
    + _rq_context(b"\x1d", b"\x00\x4d", b"\x00\x19", b"1.2.840.10008.5.1.4.1.1.7")
    + _rq_context(b"\x1f", b"\x00\x51", b"\x00\x1d", b"1.2.840.10008.5.1.4.1.1.481.1")
    + _rq_context(b"\x21", b"\x00\x51", b"\x00\x1d", b"1.2.840.10008.5.1.4.1.1.481.2")
    + _rq_context(b"\x23", b"\x00\x51", b"\x00\x1d", b"1.2.840.10008.5.1.4.1.1.88.11")
    + _rq_context(b"\x25", b"\x00\x51", b"\x00\x1d", b"1.2.840.10008.5.1.4.1.1.88.22")
    + _rq_context(b"\x27", b"\x00\x51", b"\x00\x1d", b"1.2.840.10008.5.1.4.1.1.104.1")
    + _rq_context(b"\x29", b"\x00\x4f", b"\x00\x1b", b"1.2.840.10008.5.1.4.1.1.128")
    + _rq_context(b"\x2b", b"\x00\x4e", b"\x00\x1a", b"1.2.840.10008.5.1.4.1.1.20")
    + _rq_context(b"\x2d", b"\x00\x50", b"\x00\x1c", b"1.2.840.10008.5.1.4.1.1.12.1")
    # User Information Item: as in ASSOCIATE_RQ_VERIFICATION
    + b"\x50"  # item-type user information (PS3.8 Table 9-16)
    b"\x00"  # reserved (PS3.8 Table 9-16)
    b"\x00\x4c"  # item-length 76 (PS3.8 Table 9-16)
    b"\x51"  # item-type maximum length (PS3.8 Table D.1-1)
    b"\x00"  # reserved (PS3.8 Table D.1-1)
    b"\x00\x04"  # item-length 4 (PS3.8 Table D.1-1)
    b"\x00\x00\x40\x00"  # maximum-length-received 16384 (PS3.8 Table D.1-1)
    b"\x52"  # item-type implementation class UID (PS3.7 Table D.3-1)
    b"\x00"  # reserved (PS3.7 Table D.3-1)
    b"\x00\x2e"  # item-length 46 (PS3.7 Table D.3-1)
    b"2.25.216473896422980046852998113168266513791.1"  # implementation-class-uid (D.3-1)
    b"\x55"  # item-type implementation version name (PS3.7 Table D.3-3)
    b"\x00"  # reserved (PS3.7 Table D.3-3)
    b"\x00\x0e"  # item-length 14 (PS3.7 Table D.3-3)
    b"EXPOSCAN_0.1.0"  # implementation-version-name (PS3.7 Table D.3-3)
)
#: Offset of the first presentation context item (after the application context item).
SERVICE_MAP_FIRST_CONTEXT = 74 + 25

# -- C-FIND identifiers (PS3.4 C.4.1.2.1, C.6.2.1.2): the level and its unique key only --

# Study level, Implicit VR Little Endian (PS3.5 7.1.3): tag, 4-byte length, value.
FIND_IDENTIFIER_STUDY_IMPLICIT = (
    b"\x08\x00\x52\x00"  # tag (0008,0052) Query/Retrieve Level (PS3.4 Table C.4-1)
    b"\x06\x00\x00\x00"  # value length 6
    b"STUDY "  # CS "STUDY", space padded to even length (PS3.5 6.2)
    b"\x20\x00\x0d\x00"  # tag (0020,000D) Study Instance UID: the STUDY unique key
    b"\x00\x00\x00\x00"  # value length 0: universal matching (PS3.4 C.2.2.2.3)
)

# Study level, Explicit VR Little Endian (PS3.5 7.1.2): tag, VR, 2-byte length, value.
FIND_IDENTIFIER_STUDY_EXPLICIT = (
    b"\x08\x00\x52\x00"  # tag (0008,0052) Query/Retrieve Level
    b"CS"  # VR CS (PS3.6)
    b"\x06\x00"  # value length 6
    b"STUDY "  # "STUDY", space padded
    b"\x20\x00\x0d\x00"  # tag (0020,000D) Study Instance UID
    b"UI"  # VR UI (PS3.6)
    b"\x00\x00"  # value length 0: universal matching
)

# Patient level (Patient Root only), Implicit VR Little Endian.
FIND_IDENTIFIER_PATIENT_IMPLICIT = (
    b"\x08\x00\x52\x00"  # tag (0008,0052) Query/Retrieve Level
    b"\x08\x00\x00\x00"  # value length 8
    b"PATIENT "  # CS "PATIENT", space padded to even length
    b"\x10\x00\x20\x00"  # tag (0010,0020) Patient ID: the PATIENT unique key
    b"\x00\x00\x00\x00"  # value length 0: universal matching
)

# -- C-FIND-RQ (PS3.7 Table 9.1-2) ------------------------------------------------------
# send_c_find(1, Study Root FIND, FIND_IDENTIFIER_STUDY_IMPLICIT) as the first message
# (message id 1) of an association whose context 1 was accepted with Implicit VR LE:
# the command set and the identifier in one P-DATA-TF each (PS3.7 Annex E, PS3.8 E.2).
P_DATA_C_FIND_RQ = (
    b"\x04"  # PDU-type P-DATA-TF (PS3.8 Table 9-22)
    b"\x00"  # reserved (PS3.8 Table 9-22)
    b"\x00\x00\x00\x5e"  # PDU-length 94 (PS3.8 Table 9-22)
    # Presentation Data Value Item: the command set
    b"\x00\x00\x00\x5a"  # item-length 90 (PS3.8 Table 9-23)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-23)
    b"\x03"  # message control header: command, last fragment (PS3.8 Annex E.2)
    b"\x00\x00\x00\x00"  # (0000,0000) Command Group Length (PS3.7 Table 9.1-2)
    b"\x04\x00\x00\x00"  # value length 4, UL
    b"\x4c\x00\x00\x00"  # 76: bytes of the elements that follow
    b"\x00\x00\x02\x00"  # (0000,0002) Affected SOP Class UID (PS3.7 Table 9.1-2)
    b"\x1c\x00\x00\x00"  # value length 28, UI
    b"1.2.840.10008.5.1.4.1.2.2.1\x00"  # Study Root Q/R FIND, NUL padded (PS3.4 C.6.2)
    b"\x00\x00\x00\x01"  # (0000,0100) Command Field (PS3.7 Table 9.1-2)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x20\x00"  # 0x0020: C-FIND-RQ (PS3.7 Table E.1-1)
    b"\x00\x00\x10\x01"  # (0000,0110) Message ID (PS3.7 Table 9.1-2)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 1
    b"\x00\x00\x00\x07"  # (0000,0700) Priority (PS3.7 Table 9.1-2)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x02\x00"  # 0x0002: LOW (PS3.7 9.1.2.1.2): a scanner never jumps the queue
    b"\x00\x00\x00\x08"  # (0000,0800) Command Data Set Type (PS3.7 Table 9.1-2)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 0x0001: anything but 0x0101, an identifier follows (PS3.7 Table E.1-1)
    # -- second PDU: the identifier
    b"\x04"  # PDU-type P-DATA-TF (PS3.8 Table 9-22)
    b"\x00"  # reserved (PS3.8 Table 9-22)
    b"\x00\x00\x00\x1c"  # PDU-length 28 (PS3.8 Table 9-22)
    # Presentation Data Value Item: the data set
    b"\x00\x00\x00\x18"  # item-length 24 (PS3.8 Table 9-23)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-23)
    b"\x02"  # message control header: data set, last fragment (PS3.8 Annex E.2)
    b"\x08\x00\x52\x00"  # (0008,0052) Query/Retrieve Level
    b"\x06\x00\x00\x00"  # value length 6
    b"STUDY "  # "STUDY"
    b"\x20\x00\x0d\x00"  # (0020,000D) Study Instance UID
    b"\x00\x00\x00\x00"  # empty: universal matching
)
#: Where P_DATA_C_FIND_RQ's second PDU (the identifier) starts.
C_FIND_RQ_IDENTIFIER_PDU = 6 + 94

# -- C-CANCEL-RQ (PS3.7 Table 9.3-3) ----------------------------------------------------
# send_c_cancel(1, 1): ends the C-FIND above (message id 1) on context 1.
P_DATA_C_CANCEL_RQ = (
    b"\x04"  # PDU-type P-DATA-TF (PS3.8 Table 9-22)
    b"\x00"  # reserved (PS3.8 Table 9-22)
    b"\x00\x00\x00\x30"  # PDU-length 48 (PS3.8 Table 9-22)
    # Presentation Data Value Item
    b"\x00\x00\x00\x2c"  # item-length 44 (PS3.8 Table 9-23)
    b"\x01"  # presentation-context-ID 1 (PS3.8 Table 9-23)
    b"\x03"  # message control header: command, last fragment (PS3.8 Annex E.2)
    b"\x00\x00\x00\x00"  # (0000,0000) Command Group Length (PS3.7 Table 9.3-3)
    b"\x04\x00\x00\x00"  # value length 4, UL
    b"\x1e\x00\x00\x00"  # 30: bytes of the elements that follow
    b"\x00\x00\x00\x01"  # (0000,0100) Command Field (PS3.7 Table 9.3-3)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\xff\x0f"  # 0x0FFF: C-CANCEL-RQ (PS3.7 Table E.1-1)
    b"\x00\x00\x20\x01"  # (0000,0120) Message ID Being Responded To (PS3.7 Table 9.3-3)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x00"  # 1: the C-FIND-RQ being cancelled
    b"\x00\x00\x00\x08"  # (0000,0800) Command Data Set Type (PS3.7 Table 9.3-3)
    b"\x02\x00\x00\x00"  # value length 2, US
    b"\x01\x01"  # 0x0101: no data set follows (PS3.7 Table E.1-1)
)

#: Every golden PDU exposcan sends (the length checks walk these).
SENT = {
    "associate_rq_verification": ASSOCIATE_RQ_VERIFICATION,
    "associate_rq_service_map": ASSOCIATE_RQ_SERVICE_MAP,
    "p_data_c_echo_rq": P_DATA_C_ECHO_RQ,
    "p_data_c_find_rq_command": P_DATA_C_FIND_RQ[:C_FIND_RQ_IDENTIFIER_PDU],
    "p_data_c_find_rq_identifier": P_DATA_C_FIND_RQ[C_FIND_RQ_IDENTIFIER_PDU:],
    "p_data_c_cancel_rq": P_DATA_C_CANCEL_RQ,
    "release_rq": RELEASE_RQ,
    "abort_user": ABORT_USER,
}


#: Every golden PDU a peer could send exposcan (the fuzzers mutate these).
RECEIVED = {
    "associate_ac": ASSOCIATE_AC_IMPLICIT_VR_LE,
    "associate_ac_rejected_context": ASSOCIATE_AC_CONTEXT_REJECTED,
    "associate_rj_called_ae": ASSOCIATE_RJ_CALLED_AE,
    "associate_rj_calling_ae": ASSOCIATE_RJ_CALLING_AE,
    "associate_rj_protocol_version": ASSOCIATE_RJ_PROTOCOL_VERSION,
    "associate_rj_congestion": ASSOCIATE_RJ_CONGESTION,
    "abort_provider": ABORT_PROVIDER_UNEXPECTED_PDU,
    "abort_user": ABORT_USER,
    "release_rq": RELEASE_RQ,
    "release_rp": RELEASE_RP,
    "p_data_c_echo_rsp": P_DATA_C_ECHO_RSP,
    "p_data_c_echo_rsp_part_1": P_DATA_C_ECHO_RSP_PART_1,
    "p_data_c_echo_rsp_part_2": P_DATA_C_ECHO_RSP_PART_2,
}

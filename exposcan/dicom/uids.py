"""UIDs and identity exposcan uses on the wire.

exposcan identifies itself honestly (DESIGN.md, principle 2): calling AE title
``EXPOSCAN``, its own implementation class UID (under the UUID-derived root
``2.25``, PS3.5 §B.2, so no registration is needed) and a version name.
"""

from __future__ import annotations

from exposcan._version import __version__

#: PS3.7 Annex A.2.1: the one DICOM application context name.
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
#: Transfer syntaxes we propose for every context: both are mandatory or
#: near-universal, and a command set is always Implicit VR Little Endian anyway.
DEFAULT_TRANSFER_SYNTAXES = (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)

VERIFICATION = "1.2.840.10008.1.1"

EXPOSCAN_UID_ROOT = "2.25.216473896422980046852998113168266513791"
IMPLEMENTATION_CLASS_UID = f"{EXPOSCAN_UID_ROOT}.1"
#: An abstract syntax that names no SOP class: exposcan's own root, so no SOP class
#: can ever be registered under it. Proposed beside the service map, it costs the
#: peer one context to refuse (PS3.8 §9.3.3.2, result 3 "abstract-syntax-not-supported");
#: a peer that accepts it accepts whatever it is offered, as a honeypot does.
NONEXISTENT_ABSTRACT_SYNTAX = f"{EXPOSCAN_UID_ROOT}.9.1"
#: PS3.7 D.3.3.2.3: at most 16 characters of the default repertoire.
IMPLEMENTATION_VERSION_NAME = f"EXPOSCAN_{__version__}"[:16]

CALLING_AE_TITLE = "EXPOSCAN"
DEFAULT_CALLED_AE_TITLE = "ANY-SCP"

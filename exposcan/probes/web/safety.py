"""The guard every request passes: no retrieval, no download, nothing but a plain path.

Never requested: images, frames, rendered or thumbnail views, bulk data, instance files,
archives, media, or any WADO retrieval. :func:`check_path` refuses them before a request
is built, whatever chose the path (the probe's own plan, an AE listing, a viewer's config).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PATH_CHARS", "UnsafePathError", "check_path"]


class UnsafePathError(ValueError):
    """A request the probe must never send (a retrieval, or not a plain path)."""


# Retrieval and rendering resources of PS3.18 and of the products' own downloads, in
# two rules. Case-sensitive (DICOMweb and Orthanc spell their collections in lower case,
# AE titles in a path are usually upper case): any resource below a collection
# (WADO-RS /studies/{uid}..., Orthanc /instances/{id}/file, /studies/{id}/archive) and
# listings below study level. Any case: a download word as the last segment or the one
# before it (frames/1, rendered, thumbnail, bulkdata, file, archive, media, preview; Dicoogle
# /dic2png, /dump, /export), a WADO-URI retrieval (requestType), anything below /wado.
_FORBIDDEN_RESOURCE: Final = re.compile(
    r"/(?:studies|series|instances|patients)/[^?]|/(?:series|instances|patients)(?:\?|$)"
)
_FORBIDDEN_DOWNLOAD: Final = re.compile(
    r"""
    /(?:frames|rendered|thumbnail|bulkdata|pixeldata|file|archive|media|preview|content
        |attachments|metadata|dic2png|dump|export)(?:/[^/?]*)?(?:\?|$)
    | [?&]requesttype=
    | /wado[?/]
    """,
    re.IGNORECASE | re.VERBOSE,
)
#: An absolute path (RFC 3986 pchar) and an optional plain query.
PATH_CHARS: Final = re.compile(r"/[A-Za-z0-9._~!$'()*+,;=:@%/-]*(?:\?[A-Za-z0-9._~=&%-]*)?")


def check_path(path: str) -> str:
    """Return ``path`` if the probe may request it; raise :class:`UnsafePathError` if not."""
    if not PATH_CHARS.fullmatch(path) or "//" in path or "/.." in path:
        raise UnsafePathError("not a plain absolute path")
    if _FORBIDDEN_RESOURCE.search(path) or _FORBIDDEN_DOWNLOAD.search(path):
        raise UnsafePathError("a retrieval or download resource")
    return path

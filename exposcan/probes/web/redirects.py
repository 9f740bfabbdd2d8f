"""What a redirect shows, as facts: where it leads (this origin or another), never its text.

A ``Location`` is the peer's free text: its path and query carry state, tokens and, in
the wild, names (``/login?next=/viewer?PatientName=...``). The probe reads it to decide
(a login page? a viewer's entry point?) and keeps only facts: the status code, whether
it leads to a login page, and whether the target is on the probed origin (RFC 6454 §4:
scheme, host and port).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

__all__ = ["same_origin"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def same_origin(location: str, scheme: str, host: str, port: int) -> bool:
    """Does ``location`` (as a peer sent it) lead to ``scheme://host:port``?

    A path, relative or absolute, stays on the origin; a network-path reference
    (``//other/...``, RFC 3986 §4.2) keeps the scheme only. A hostname that may resolve
    to ``host`` is another origin here: nothing is resolved, and it was not probed.
    """
    try:
        parts = urlsplit(location.strip())
        target_port = parts.port
    except ValueError:
        return False
    if not parts.scheme and not parts.netloc:
        return True
    target_scheme = (parts.scheme or scheme).lower()
    if target_scheme != scheme:
        return False
    if not parts.netloc:
        return True  # "http:/path": the same scheme, no authority: this origin
    default = _DEFAULT_PORTS.get(target_scheme)
    return parts.hostname == host.lower() and (target_port or default) == port

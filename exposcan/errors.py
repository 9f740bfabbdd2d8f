"""Errors a user can cause. Each carries one line that names the problem and where.

The CLI prints ``exposcan: error: <message>`` and exits 2 for any of these. The
library raises them before a single packet is sent, with one exception:
:class:`AuthorisationExpired`, raised once a scan has stopped because its
authorisation expired while it ran (the report is complete up to then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exposcan.summary import Summary


class UserError(Exception):
    """A problem with what the user asked for, not with the network."""


class ScopeError(UserError):
    """The scope file is missing, malformed or empty."""


class AuthorisationError(UserError):
    """The scope's authorisation is missing or has expired."""


class AuthorisationExpired(AuthorisationError):
    """The authorisation expired during the scan: no endpoint was started after it, the
    ones in flight finished, and the summary says ``"stopped": "authorisation-expired"``.
    ``summary`` is that summary and ``report`` the partial report, where the caller
    kept one (:func:`exposcan.scan`)."""

    def __init__(self, message: str, *, summary: Summary | None = None, report: Any = None) -> None:
        super().__init__(message)
        self.summary = summary
        self.report = report


class OutOfScopeError(UserError):
    """A target (or an address it resolves to) lies outside the scope."""


class PortListError(UserError):
    """A port list is malformed or names a port the scope does not list."""


class OptionError(UserError):
    """An option value is out of its range."""


class OutputError(UserError):
    """The report cannot be written where the user asked."""


class ReportError(UserError):
    """A report to read back (:func:`exposcan.read_report`) is missing, not a regular
    file, or holds a line that is not one of exposcan's records."""

"""Errors a user can cause. Each carries one line that names the problem and where.

The CLI prints ``exposcan: error: <message>`` and exits 2 for any of these; the
library raises them before a single packet is sent.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the user asked for, not with the network."""


class ScopeError(UserError):
    """The scope file is missing, malformed or empty."""


class AuthorisationError(UserError):
    """The scope's authorisation is missing or has expired."""


class OutOfScopeError(UserError):
    """A target (or an address it resolves to) lies outside the scope."""


class PortListError(UserError):
    """A port list is malformed or names a port the scope does not list."""


class OptionError(UserError):
    """An option value is out of its range."""


class OutputError(UserError):
    """The report cannot be written where the user asked."""

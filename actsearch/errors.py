"""The one exception hierarchy of actsearch.

Every error the library raises on purpose derives from :class:`ActsearchError`. The CLI and the
API map the two branches to their own conventions: a :class:`UsageError` is the caller's to fix
(exit code 2, HTTP 4xx); anything else is a runtime failure (exit code 1, HTTP 5xx).
Messages are one line that names the input, the problem and what to do instead.
"""

from __future__ import annotations


class ActsearchError(Exception):
    """Base class of every error actsearch raises deliberately."""

    exit_code = 1


class UsageError(ActsearchError, ValueError):
    """The caller asked for something invalid; fixing the input fixes the error."""

    exit_code = 2


class UnknownActivationError(UsageError, LookupError):
    """A name that is neither a registered activation, an alias nor a formula."""


class ActivationParameterError(UsageError, TypeError):
    """An activation was given a parameter it does not take, or an invalid value."""


class InvalidFormulaError(UsageError):
    """A formula string that is malformed or uses something outside the whitelist."""


class RegistrationError(ActsearchError):
    """An activation could not be registered (name taken, bad plugin)."""


class SearchFailedError(ActsearchError):
    """Every trial of a search failed the same way: going on would only repeat it."""


class SearchInterruptedError(ActsearchError):
    """Ctrl-C or SIGTERM stopped a search; re-running the same command resumes it."""

    exit_code = 130  # the shell's convention for a process ended by SIGINT

"""The one exception hierarchy of actsearch.

Every error the library raises on purpose derives from :class:`ActsearchError`. The CLI and the
API map the two branches to their own conventions: a :class:`UsageError` is the caller's to fix
(exit code 2, HTTP 4xx); anything else is a runtime failure (exit code 1, HTTP 5xx).
Messages are one line that names the input, the problem and what to do instead; quoted inputs
are cut to a readable length.
"""

from __future__ import annotations

import re

# Messages quote the input they are about; a quoted input longer than this is cut, so a
# pasted file or a runaway argument never floods a terminal or a log.
SHOWN_INPUT_CHARS = 80
_QUOTED = re.compile(rf"'[^'\n]{{{SHOWN_INPUT_CHARS + 1},}}'")
_WORD = re.compile(rf"[^\s'`]{{{SHOWN_INPUT_CHARS + 1},}}")


def cut_long_inputs(message: str) -> str:
    """``message`` with every quoted input, and every word, over SHOWN_INPUT_CHARS
    characters cut (a suggested command repeats the input unquoted)."""
    message = _QUOTED.sub(lambda m: m.group(0)[:SHOWN_INPUT_CHARS - 2] + "...'", message)
    return _WORD.sub(lambda m: m.group(0)[:SHOWN_INPUT_CHARS - 3] + "...", message)


class ActsearchError(Exception):
    """Base class of every error actsearch raises deliberately."""

    exit_code = 1

    def __str__(self) -> str:
        return cut_long_inputs(super().__str__())


class UsageError(ActsearchError, ValueError):
    """The caller asked for something invalid; fixing the input fixes the error."""

    exit_code = 2


class UnknownActivationError(UsageError, LookupError):
    """A name that is neither a registered activation, an alias nor a formula."""


class ActivationParameterError(UsageError, TypeError):
    """An activation was given a parameter it does not take, or an invalid value."""


class OverBudgetError(UsageError):
    """No searched configuration fits the cost budget asked for (HTTP 422)."""


class InvalidFormulaError(UsageError):
    """A formula string that is malformed or uses something outside the whitelist."""


class RegistrationError(ActsearchError):
    """An activation could not be registered (name taken, bad plugin)."""


class SearchFailedError(ActsearchError):
    """Every trial of a search failed the same way: going on would only repeat it."""


class SearchInterruptedError(ActsearchError):
    """Ctrl-C or SIGTERM stopped a search; re-running the same command resumes it."""

    exit_code = 130  # the shell's convention for a process ended by SIGINT


class StorageUnavailableError(ActsearchError):
    """The study database stayed unreachable longer than a search waits for it."""

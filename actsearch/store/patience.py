"""Waiting out a database outage: storage calls retried while the server is unreachable."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import tenacity
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from actsearch.errors import StorageUnavailableError
from actsearch.store.database import first_line, masked


def _unreachable(exc: BaseException) -> bool:
    """A lost connection or a server that is down (SQLite: a lock held too long), not a bug.

    Optuna wraps database errors in StorageInternalError, and a failed rollback on a dead
    connection chains another error in front: the whole chain is looked at.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, OperationalError | InterfaceError) or (
                isinstance(seen, DBAPIError) and seen.connection_invalidated):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


P = ParamSpec("P")
T = TypeVar("T")


class Patient:
    """Runs a search driver's storage calls again while the database is unreachable.

    A database restart (or failover) then pauses the search instead of ending it: the
    workers finish the epoch they have and wait, and nothing is lost. Past ``seconds`` the
    call raises :class:`StorageUnavailableError`; the trials left RUNNING are recovered when
    the same command is re-run. Every call retried must be idempotent or say what it does
    when its first attempt did land (see the callers).
    """

    def __init__(self, url: str, seconds: float, *, on_wait: Callable[[str], None],
                 give_up: threading.Event | None = None) -> None:
        self.url, self.seconds, self.on_wait = url, seconds, on_wait
        self.give_up = give_up or threading.Event()  # set: stop waiting (Ctrl-C)

    def __call__(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_unreachable),
            stop=(tenacity.stop_after_delay(self.seconds)
                  | tenacity.stop_when_event_set(self.give_up)),
            wait=tenacity.wait_exponential(multiplier=0.25, max=5.0),
            before_sleep=self._waiting, reraise=True)
        try:
            return retrying(call, *args, **kwargs)
        except Exception as exc:
            if not _unreachable(exc):
                raise
            if self.give_up.is_set() and threading.current_thread() is threading.main_thread():
                raise KeyboardInterrupt from None  # Ctrl-C while waiting: the interrupt path
            if self.give_up.is_set():
                raise StorageUnavailableError(
                    f"stopped while the database {masked(self.url)} was unreachable; re-run "
                    "the same command once it is back: the search resumes where it stopped"
                ) from None
            raise StorageUnavailableError(
                f"the database {masked(self.url)} was unreachable for over {self.seconds:.0f} s "
                f"({first_line(exc.__cause__ or exc)}); re-run the same command once it is "
                "back: the search resumes where it stopped") from None

    def _waiting(self, state: tenacity.RetryCallState) -> None:
        if state.attempt_number == 1:
            error = state.outcome.exception() if state.outcome else None
            cause = first_line(error.__cause__ or error) if error else "unreachable"
            self.on_wait(f"database unreachable ({cause}); retrying for up to "
                         f"{self.seconds:.0f} s")


"""The study database: Optuna's RDB schema through SQLAlchemy, SQLite or PostgreSQL.

Ownership (after Optuna's storage contract): one search driver writes its own trials; workers
never touch the database, so one SQLite file serves any number of workers, and several
drivers (on several machines) may share a study on PostgreSQL. Studies are created once and
then loaded, never raced into existence (optuna#1092).

actsearch keeps its own metadata as the study user attribute ``actsearch`` (dataset name,
fingerprint and meta-features, space name and digest, metric) and, per trial, user attributes
for telemetry, the driver that ran it, and retries.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import optuna
import psutil
import sqlalchemy
import tenacity
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)

from actsearch.errors import StorageUnavailableError, UsageError
from actsearch.tables import tables_exist

META_KEY = "actsearch"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


def masked(url: str) -> str:
    """The URL with any password hidden and cut to a printable length, safe to print."""
    try:
        text = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # e.g. a port that is not a number
        text = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return text if len(text) <= 200 else text[:200] + "..."


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (dashboard, `actsearch studies`) run beside the one writer, and
    # synchronous=NORMAL drops an fsync per commit; both are safe against process crashes.
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def check_url(url: str) -> sqlalchemy.URL:
    """Parse a storage URL or raise a UsageError that says how to write one."""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (parsing the port is lazy: a bad one must fail here)
    except (ArgumentError, ValueError) as exc:
        raise UsageError(f"storage URL {masked(url)!r} is not a database URL ({exc}): use e.g. "
                         "sqlite:///actsearch.db or postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = os.path.dirname(os.path.abspath(parsed.database))
        if not os.path.isdir(folder):
            raise UsageError(f"storage {masked(url)}: folder {folder!r} does not exist; create it "
                             "or point --storage elsewhere")
    return parsed


def _engine_kwargs(is_sqlite: bool) -> dict[str, Any]:
    # SQLite: wait for a busy writer from the very first connection (table creation too).
    # A server: test pooled connections first, so one dropped by a restart is replaced.
    return {"connect_args": {"timeout": 30}} if is_sqlite else {"pool_pre_ping": True}


def open_storage(url: str, *, create: bool = True, require_studies: bool = True) -> RDBStorage:
    """Connect to the study database (creating Optuna's tables if needed and ``create``).

    Args:
        create: Create (or migrate) Optuna's tables: only writers (a search) do.
        require_studies: When not creating, refuse a database without studies (a command
            that reads them); a server that waits for its first study passes False.

    Raises:
        UsageError: The URL is malformed, the server unreachable, or (``create=False``) the
            database holds no actsearch studies yet.
    """
    parsed = check_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if not create and require_studies and is_sqlite and not os.path.exists(parsed.database or ""):
        raise UsageError(f"storage {masked(url)} does not exist yet: run `actsearch search` "
                         "first, or point --storage at your study database")
    if not create:
        _probe(url, require_studies)
    engine_kwargs = _engine_kwargs(is_sqlite)
    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # Readers never create or migrate tables: only the writer (a search) does.
                storage = RDBStorage(url, engine_kwargs=engine_kwargs,
                                     heartbeat_interval=HEARTBEAT_SECONDS,
                                     grace_period=GRACE_SECONDS, skip_table_creation=not create,
                                     skip_compatibility_check=not create)
            break
        except IntegrityError:
            # Two drivers creating the tables of a fresh database at once (optuna#1092): the
            # other one won; its tables are there on the next try.
            if attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise UsageError(f"cannot open storage {masked(url)}: {_first_line(exc)}; check the "
                             "URL and that the database server is running") from None
    if is_sqlite:
        event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()  # later connections get the pragmas
    return storage


class ReaderStorage:
    """A server's read access to a database that may hold no studies yet.

    Opening Optuna's storage writes (it records its schema version), so until a search has
    created the tables a server reads an empty stand-in, and the real storage once they
    exist: serving never creates a table.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        _probe(url, require_studies=False)
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        # For health checks, metrics and search runs.
        self.engine = sqlalchemy.create_engine(url, **_engine_kwargs(is_sqlite))
        self._storage: RDBStorage | None = None
        self._empty: RDBStorage | None = None
        self._lock = threading.Lock()

    def get(self) -> RDBStorage:
        """The study database, or an empty one while no search has written to it."""
        if self._storage is not None:
            return self._storage
        with self._lock:
            if self._storage is None and tables_exist(self.engine, "studies", "version_info"):
                self._storage = open_storage(self.url, create=False)
            if self._storage is not None:
                return self._storage
            if self._empty is None:
                self._empty = RDBStorage("sqlite://", engine_kwargs={
                    "poolclass": sqlalchemy.pool.StaticPool,
                    "connect_args": {"check_same_thread": False}})
            return self._empty

    def dispose(self) -> None:
        self.engine.dispose()
        for storage in (self._storage, self._empty):
            if storage is not None:
                storage.engine.dispose()


def _probe(url: str, require_studies: bool) -> None:
    """Connect once without creating anything (read-only commands must not write)."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            if require_studies and not sqlalchemy.inspect(conn).has_table("studies"):
                raise UsageError(f"storage {masked(url)} holds no studies yet: run "
                                 "`actsearch search` first")
    except SQLAlchemyError as exc:
        raise UsageError(f"cannot open storage {masked(url)}: {_first_line(exc)}; check the URL "
                         "and that the database server is running") from None
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- Studies ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StudyInfo:
    """A study as actsearch lists it."""

    name: str
    study_id: int
    dataset: str | None
    space: str | None
    metric: str | None
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    best_value: float | None
    meta: dict[str, Any]


def study_meta(storage: RDBStorage, study_id: int) -> dict[str, Any]:
    attrs = storage.get_study_user_attrs(study_id)
    meta = attrs.get(META_KEY, {})
    return meta if isinstance(meta, dict) else {}


def all_studies(storage: RDBStorage) -> list[FrozenStudy]:
    """Every study (trials not loaded); none in a database no search has written to yet."""
    if not tables_exist(storage.engine, "studies"):
        return []
    return storage.get_all_studies()


def find_study(storage: RDBStorage, name: str) -> int | None:
    if not tables_exist(storage.engine, "studies"):
        return None
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        return None


def create_or_load_study(storage: RDBStorage, name: str, meta: dict[str, Any]) -> int:
    """The id of study ``name``, created with ``meta`` if new.

    Raises:
        UsageError: The study exists for another dataset or another search space (its
            parameter names and choice lists must stay the same), or holds trials that no
            actsearch search made.
    """
    study_id = find_study(storage, name)
    if study_id is None:
        try:
            study_id = storage.create_new_study([StudyDirection.MAXIMIZE], name)
        except optuna.exceptions.DuplicatedStudyError:  # another driver was first
            study_id = storage.get_study_id_from_name(name)
        else:
            storage.set_study_user_attr(study_id, META_KEY, meta)
            return study_id
    existing = study_meta(storage, study_id)
    if not existing.get("space_digest") and storage.get_n_trials(study_id) > 0:
        raise UsageError(
            f"study {name!r} was not made by an actsearch search (it records no search "
            "space), so its trials cannot be resumed: pass a new --study name")
    if not existing:  # an empty study made elsewhere (optuna create-study): adopt it
        storage.set_study_user_attr(study_id, META_KEY, meta)
        return study_id
    for key, label in (("fingerprint", "dataset"), ("space_digest", "search space")):
        if existing.get(key) and existing.get(key) != meta.get(key):
            raise UsageError(
                f"study {name!r} was made for another {label} ({existing.get(label.split()[-1])!r}"
                f"); its parameters cannot change: pass a new --study name"
            )
    if existing.get("epochs") and meta.get("epochs") and existing["epochs"] != meta["epochs"]:
        raise UsageError(
            f"study {name!r} trains {existing['epochs']} epochs per trial, not {meta['epochs']}: "
            "one pruner cannot compare both budgets; drop --epochs to resume, or pass a new "
            "--study name")
    return study_id


@contextlib.contextmanager
def trial_slot(storage: RDBStorage, study_id: int, target: int, ended_unwritten: int = 0,
               patient: Patient | None = None) -> Iterator[bool]:
    """Whether one more trial may start, decided in the database, and held until it exists.

    Counts the study's running and finished trials (every driver's), less
    ``ended_unwritten``: this driver's failed trials whose state is not written yet. On
    PostgreSQL an advisory lock per study is held until the block ends, so two drivers
    cannot both take the last slot; SQLite has one writer, so the count suffices. Taking the
    slot is retried through ``patient`` while the database is unreachable.
    """
    take = patient or (lambda call, *args: call(*args))
    conn, room = take(_take_slot, storage, study_id, target, ended_unwritten)
    try:
        yield room
    finally:
        _release_slot(conn, study_id)


_COUNT_TAKEN = sqlalchemy.text("SELECT count(*) FROM trials WHERE study_id = :study AND state IN "
                               "('RUNNING', 'COMPLETE', 'PRUNED')")


def _take_slot(storage: RDBStorage, study_id: int, target: int,
               ended_unwritten: int) -> tuple[sqlalchemy.Connection, bool]:
    conn = storage.engine.connect()
    try:
        if conn.dialect.name == "postgresql":
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": study_id})
        taken = int(conn.execute(_COUNT_TAKEN, {"study": study_id}).scalar_one())
    except BaseException:
        conn.invalidate()  # never pool a connection that may still hold the lock
        conn.close()
        raise
    return conn, taken - ended_unwritten < target


def _release_slot(conn: sqlalchemy.Connection, study_id: int) -> None:
    try:
        if conn.dialect.name == "postgresql":
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": study_id})
        conn.commit()
    except (OperationalError, InterfaceError):
        conn.invalidate()  # the connection died, and the server released its lock with it
    finally:
        conn.close()


def count_states(trials: list[FrozenTrial]) -> dict[TrialState, int]:
    counts = dict.fromkeys(TrialState, 0)
    for t in trials:
        counts[t.state] += 1
    return counts


def study_info(storage: RDBStorage, study_id: int, name: str,
               attrs: dict[str, Any]) -> StudyInfo:
    """One study with its trial counts (its trials only are loaded)."""
    trials = storage.get_all_trials(study_id, deepcopy=False)
    counts = count_states(trials)
    meta = attrs.get(META_KEY, {}) or {}
    complete = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return StudyInfo(
        name=name, study_id=study_id, dataset=meta.get("dataset"), space=meta.get("space"),
        metric=meta.get("metric"), n_complete=counts[TrialState.COMPLETE],
        n_pruned=counts[TrialState.PRUNED], n_failed=counts[TrialState.FAIL],
        n_running=counts[TrialState.RUNNING], best_value=max(complete) if complete else None,
        meta=meta,
    )


def list_studies(storage: RDBStorage) -> list[StudyInfo]:
    """Every study in the database with its trial counts, newest first."""
    infos = [study_info(storage, s._study_id, s.study_name, s.user_attrs)
             for s in all_studies(storage)]
    return sorted(infos, key=lambda i: -i.study_id)


# --- Outages ----------------------------------------------------------------------------

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
                f"({_first_line(exc.__cause__ or exc)}); re-run the same command once it is "
                "back: the search resumes where it stopped") from None

    def _waiting(self, state: tenacity.RetryCallState) -> None:
        if state.attempt_number == 1:
            error = state.outcome.exception() if state.outcome else None
            cause = _first_line(error.__cause__ or error) if error else "unreachable"
            self.on_wait(f"database unreachable ({cause}); retrying for up to "
                         f"{self.seconds:.0f} s")


# --- Trials -----------------------------------------------------------------------------

def driver_identity() -> dict[str, Any]:
    """Who runs trials: host, pid and process start time (pids get reused)."""
    proc = psutil.Process()
    return {"host": socket.gethostname(), "pid": proc.pid, "started": proc.create_time()}


def _driver_dead(identity: Any) -> bool:
    """True when ``identity`` names a process on this host that no longer runs."""
    if not isinstance(identity, dict) or identity.get("host") != socket.gethostname():
        return False
    try:
        started = float(identity["started"])
        return bool(abs(psutil.Process(int(identity["pid"])).create_time() - started) > 1)
    except (psutil.NoSuchProcess, KeyError, ValueError, TypeError):
        return True


def recover_orphans(storage: RDBStorage, study_name: str) -> int:
    """Fail trials left RUNNING by a dead driver, so their configurations get re-queued.

    A trial is orphaned when its driver ran on this host and is gone (found at once), or when
    its heartbeat is older than the grace period (a driver on another machine died).

    Returns:
        How many trials were failed.
    """
    study = optuna.load_study(study_name=study_name, storage=storage)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    failed = 0
    for trial in running:
        if _driver_dead(trial.user_attrs.get("driver")):
            try:
                storage.set_trial_user_attr(trial._trial_id, "fail_reason",
                                            "its search driver died while it ran")
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                failed += 1
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another driver recovered it first
    before = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # heartbeat-based: drivers on any host
    return failed + before - len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def pending_retries(trials: list[FrozenTrial], max_retries: int) -> list[FrozenTrial]:
    """Failed trials whose configuration has not been retried yet (and may be)."""
    retried = {t.user_attrs.get("retry_of") for t in trials}
    return [t for t in trials if t.state == TrialState.FAIL and t.number not in retried
            and int(t.user_attrs.get("attempt", 1)) <= max_retries]

"""Opening the study database: Optuna's RDB schema through SQLAlchemy, SQLite or PostgreSQL.

Ownership (after Optuna's storage contract): one search driver writes its own trials; workers
never touch the database, so one SQLite file serves any number of workers, and several
drivers (on several machines) may share a study on PostgreSQL. Readers open it without
creating anything (``create=False``, :class:`ReaderStorage`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import warnings
from typing import Any

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, RDBStorage
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    SQLAlchemyError,
)

from actsearch.errors import UsageError
from actsearch.store.tables import tables_exist

META_KEY = "actsearch"
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
# Tries at creating the tables of a new database while other drivers may be creating them.
CREATE_ATTEMPTS = 6


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


def _require_local_file(url: str, parsed: sqlalchemy.URL) -> None:
    """Refuse a SQLite file that does not exist: a reader would create it empty, and a
    mistyped path would then read nothing, quietly."""
    if parsed.get_backend_name() == "sqlite" and not os.path.exists(parsed.database or ""):
        raise UsageError(f"storage {masked(url)} does not exist yet: run `actsearch search` "
                         "first, or point --storage at your study database")


def _engine_kwargs(is_sqlite: bool) -> dict[str, Any]:
    # SQLite: wait for a busy writer from the very first connection (table creation too).
    # A server: test pooled connections first, so one dropped by a restart is replaced.
    return {"connect_args": {"timeout": 30}} if is_sqlite else {"pool_pre_ping": True}


def _cannot_open(url: str, exc: BaseException) -> UsageError:
    return UsageError(f"cannot open storage {masked(url)}: {first_line(exc)}; check the URL "
                      "and that the database server is running")


def _creation_race(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` says another process created the same table or row first."""
    return isinstance(exc, IntegrityError) or "already exists" in str(exc)


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
    if not create and require_studies:
        _require_local_file(url, parsed)
    if not create:
        _probe(url, require_studies)
    engine_kwargs = _engine_kwargs(is_sqlite)
    for attempt in range(CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                # Readers never create or migrate tables: only the writer (a search) does.
                storage = RDBStorage(url, engine_kwargs=engine_kwargs,
                                     heartbeat_interval=HEARTBEAT_SECONDS,
                                     grace_period=GRACE_SECONDS, skip_table_creation=not create,
                                     skip_compatibility_check=not create)
            break
        except SQLAlchemyError as exc:
            # Two drivers creating the tables of a fresh database at once (optuna#1092): the
            # other one won, and its tables are there on the next try. SQLite says "table
            # ... already exists", PostgreSQL a duplicate table or a duplicate key; anything
            # else (an unreachable server, a bad password) is not a race and is said as is.
            if not _creation_race(exc) or attempt == CREATE_ATTEMPTS - 1:
                raise _cannot_open(url, exc) from None
            time.sleep(0.2 * (attempt + 1))
        except (ImportError, ValueError) as exc:
            raise _cannot_open(url, exc) from None
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

    def __init__(self, url: str, *, must_exist: bool = False) -> None:
        """``must_exist``: refuse a local SQLite file that does not exist (a mistyped path
        would otherwise serve nothing, and quietly)."""
        self.url = url
        parsed = check_url(url)
        if must_exist:
            _require_local_file(url, parsed)
        _probe(url, require_studies=False)
        is_sqlite = make_url(url).get_backend_name() == "sqlite"
        # For health checks, metrics and search runs.
        self.engine = sqlalchemy.create_engine(url, **_engine_kwargs(is_sqlite))
        self._storage: RDBStorage | None = None
        self._empty: RDBStorage | None = None
        self._lock = threading.Lock()

    @property
    def has_studies(self) -> bool:
        """Whether a search has created Optuna's tables yet."""
        return self._storage is not None or tables_exist(self.engine, "studies", "version_info")

    def deferred(self) -> BaseStorage:
        """One Optuna storage that reads :meth:`get` at each call (see DeferredStorage)."""
        return DeferredStorage(self)  # type: ignore[abstract]  # its methods are set below

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


class DeferredStorage(BaseStorage):
    """The Optuna storage a :class:`ReaderStorage` reads, for a server that takes one storage
    for its lifetime (optuna-dashboard): each call goes to the empty stand-in until a search
    has created the tables, and to the study database from then on. A write before then
    (a study made in the dashboard, say) is refused: the stand-in would lose it."""

    def __init__(self, reader: ReaderStorage) -> None:
        self.reader = reader


_WRITES = ("create_", "delete_", "set_")


def _through_reader(name: str) -> Any:
    def method(self: DeferredStorage, *args: Any, **kwargs: Any) -> Any:
        if name.startswith(_WRITES) and not self.reader.has_studies:
            raise UsageError(
                f"{name}: no search has created the study database yet; run `actsearch "
                "search` first")
        return getattr(self.reader.get(), name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


# Every public method of Optuna's storage contract, not only the abstract ones: RDBStorage's
# own versions of the others read in SQL what the generic ones would scan for.
for _name in [n for n in dir(BaseStorage) if not n.startswith("_")
              and callable(getattr(BaseStorage, n))]:
    setattr(DeferredStorage, _name, _through_reader(_name))
DeferredStorage.__abstractmethods__ = frozenset()


def _probe(url: str, require_studies: bool) -> None:
    """Connect once without creating anything (read-only commands must not write)."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            if require_studies and not sqlalchemy.inspect(conn).has_table("studies"):
                raise UsageError(f"storage {masked(url)} holds no studies yet: run "
                                 "`actsearch search` first")
    except SQLAlchemyError as exc:
        raise UsageError(f"cannot open storage {masked(url)}: {first_line(exc)}; check the URL "
                         "and that the database server is running") from None
    finally:
        engine.dispose()


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__



"""actsearch's own tables, beside Optuna's in the same database (SQLAlchemy 2 ORM).

- ``actsearch_confirmation_runs``: one row per (study, trial, variant, seed) retraining of a
  confirmed configuration (``searched``) or its untuned all-ReLU twin (``relu``, an
  ablation), with its scores and per-test-example outcomes.
- ``actsearch_recommendations``: the current recommendation per dataset, precomputed when a
  search or a confirmation ends, so serving one is a primary-key read, not a scan of trials.
- ``actsearch_search_runs``: searches the API started in the background, with their state and
  the reason a failed one gave.

Tables are created idempotently (``checkfirst``) on SQLite and PostgreSQL alike, and only by
writers (a search, a confirmation, a server starting searches): readers ask
:func:`tables_exist` and read nothing where there is nothing yet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

from sqlalchemy import JSON, DateTime, Float, Integer, String, UniqueConstraint, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class ConfirmationRun(Base):
    """One retraining of a configuration with one seed, scored on validation and test."""

    __tablename__ = "actsearch_confirmation_runs"
    __table_args__ = (UniqueConstraint("study", "trial_number", "variant", "seed"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study: Mapped[str] = mapped_column(String(512), index=True)
    trial_number: Mapped[int] = mapped_column(Integer)
    variant: Mapped[str] = mapped_column(String(16))  # "searched" or "relu"
    seed: Mapped[int] = mapped_column(Integer)
    val: Mapped[float] = mapped_column(Float)
    test: Mapped[float] = mapped_column(Float)
    activations: Mapped[list[str]] = mapped_column(JSON)
    # Per test example, its share of the metric: comparisons pair them (actsearch.recommend.stats).
    test_outcomes: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RecommendationRow(Base):
    """The served recommendation of one dataset (a JSON document)."""

    __tablename__ = "actsearch_recommendations"

    dataset: Mapped[str] = mapped_column(String(512), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now,
                                                 onupdate=_now)


class SearchRun(Base):
    """A search a server started in the background, and how it ended."""

    __tablename__ = "actsearch_search_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study: Mapped[str] = mapped_column(String(512), index=True)
    state: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    reason: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


_ensured: WeakSet[Engine] = WeakSet()
_seen: WeakKeyDictionary[Engine, set[str]] = WeakKeyDictionary()


def tables_exist(engine: Engine, *names: str) -> bool:
    """Whether these tables (actsearch's or Optuna's) are there, without creating them.

    A table once seen is remembered per engine, so request paths ask the database only while
    the tables are still missing.
    """
    seen = _seen.setdefault(engine, set())
    wanted = set(names)
    if wanted <= seen:
        return True
    present = set(inspect(engine).get_table_names()) & wanted
    seen |= present
    return present == wanted


def ensure_tables(engine: Engine) -> None:
    """Create actsearch's tables if missing (safe from several processes; checked once per
    engine, so request paths pay nothing after the first call)."""
    if engine in _ensured:
        return
    # Another process may create them between check and create: that is success too.
    with contextlib.suppress(IntegrityError, ProgrammingError):
        Base.metadata.create_all(engine, checkfirst=True)
    _add_missing_columns(engine)
    _ensured.add(engine)


def _add_missing_columns(engine: Engine) -> None:
    """Columns added since a table was first created (nullable, so old rows stay valid)."""
    table = Base.metadata.tables[ConfirmationRun.__tablename__]
    present = {c["name"] for c in inspect(engine).get_columns(table.name)}
    for column in table.columns:
        if column.name not in present and column.nullable:
            kind = column.type.compile(engine.dialect)
            # Another process may add it first: then the column is there, which is the goal.
            with contextlib.suppress(OperationalError, ProgrammingError), engine.begin() as conn:
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

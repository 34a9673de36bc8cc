"""Fixtures shared by the whole suite: real databases (SQLite file, PostgreSQL server), the
one builder of stored trials, and an HTTP client on the API."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pytest
import sqlalchemy
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

# Every search of the suite starts a Ray of its own and stops it (the kept local Ray has tests
# of its own, in tests/search/test_ray_session.py), in a Ray temporary directory of the
# suite's own, so no search joins a Ray that happens to be up on the machine.
os.environ["ACTSEARCH_RAY_KEEP_SECONDS"] = "0"
os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="rs-")  # short: socket paths are limited

POSTGRES_URL = os.environ.get("ACTSEARCH_TEST_POSTGRES",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_schema_url(schema: str) -> str:
    # One schema per test keeps tests independent on the shared server; search_path makes
    # Optuna's tables land there.
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty study database of each kind (the conformance suite runs on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}"
        return
    yield from _postgres_schema()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL server."""
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except sqlalchemy.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable ({exc.orig}); start it "
                    "(see the env notes) or set ACTSEARCH_TEST_POSTGRES")
    try:
        yield _postgres_schema_url(schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frozen_trial(params: dict[str, Any] | None = None, value: float | None = 0.9, *,
                 state: TrialState = TrialState.COMPLETE, choices: Sequence[Any] | None = None,
                 distributions: dict[str, BaseDistribution] | None = None,
                 user_attrs: dict[str, Any] | None = None) -> FrozenTrial:
    """A finished trial, to store or to hand to the code under test.

    A parameter's distribution, unless ``distributions`` names one for it (names of parameters
    not given are ignored), is made up from its value: a float's is ``FloatDistribution(1e-4,
    1)``, any other value's a categorical over ``choices`` (default: the value alone).
    """
    params = params or {}
    made: dict[str, BaseDistribution] = {
        k: FloatDistribution(1e-4, 1.0) if isinstance(v, float)
        else CategoricalDistribution(list(choices) if choices is not None else [v])
        for k, v in params.items()}
    made.update({k: d for k, d in (distributions or {}).items() if k in params})
    return optuna.trial.create_trial(state=state, value=value, params=params,
                                     distributions=made, user_attrs=user_attrs)


def add_trial(storage: BaseStorage, study_id: int, params: dict[str, Any] | None = None,
              value: float | None = 0.9, **options: Any) -> int:
    """Store :func:`frozen_trial` (same arguments) in a study; returns the trial's id."""
    return storage.create_new_trial(study_id, template_trial=frozen_trial(params, value,
                                                                           **options))


def make_client(url: str, **settings: str) -> TestClient:
    """The HTTP API on the study database at ``url`` (``with`` it to run its start-up)."""
    from fastapi.testclient import TestClient

    from actsearch.api import create_app
    from actsearch.settings import Settings

    return TestClient(create_app(Settings(storage=url, **settings)))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ["RAY_TMPDIR"], ignore_errors=True)

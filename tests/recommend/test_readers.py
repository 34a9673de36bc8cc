"""Readers never write: recommending, listing and serving leave the database's dump as it was,
on a plain Optuna database (no actsearch tables) and on an empty one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import sqlalchemy
from typer.testing import CliRunner

from actsearch.cli import app
from actsearch.store.studies import META_KEY
from tests.conftest import frozen_trial, make_client


def _plain_optuna_database(path: Path) -> str:
    """A study written by Optuna alone, carrying actsearch's metadata (as an older version or
    another tool would leave it): Optuna's tables, none of actsearch's."""
    url = f"sqlite:///{path}"
    study = optuna.create_study(study_name="wine-default", storage=url, direction="maximize")
    study.set_user_attr(META_KEY, {"dataset": "wine", "metric": "accuracy", "space": "default"})
    for act, value in (("relu", 0.9), ("tanh", 0.95)):
        study.add_trial(frozen_trial({"act_0": act}, value, choices=["relu", "tanh"],
                                     user_attrs={"activations": [act]}))
    return url


def _digest(path: Path) -> list[str]:
    """Every statement that would rebuild the database (the journal mode aside: opening a
    database in WAL mode, so readers never wait for the writer, is not a write of data)."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def _tables(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_cli_readers_leave_a_plain_optuna_database_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    url = _plain_optuna_database(db)
    tables, before = _tables(url), _digest(db)
    runner = CliRunner()
    recommended = runner.invoke(app, ["recommend", "wine", "--storage", url,
                                      "--format", "json"])
    assert recommended.exit_code == 0, recommended.output
    assert '"tanh"' in recommended.stdout  # the better trial, computed on the fly
    for args in (["studies", "list"], ["studies", "show", "wine-default"]):
        result = runner.invoke(app, [*args, "--storage", url])
        assert result.exit_code == 0, result.output
    assert _tables(url) == tables and not any(t.startswith("actsearch") for t in tables)
    assert _digest(db) == before


def test_the_api_serves_a_plain_optuna_database_without_writing(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    url = _plain_optuna_database(db)
    before = _digest(db)
    with make_client(url) as client:
        rec = client.get("/api/v1/recommendations/wine")
        assert rec.status_code == 200 and rec.json()["activations"] == ["tanh"]
        assert client.get("/api/v1/studies").json()[0]["name"] == "wine-default"
        assert client.get("/api/v1/studies/wine-default/runs").json() == []
    assert _digest(db) == before


def test_the_api_starts_on_an_empty_database_and_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with make_client(url) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/studies").json() == []
        missing = client.get("/api/v1/recommendations/no-such-dataset")
        assert missing.status_code == 404
        datasets = client.get("/api/v1/datasets").json()
        assert datasets and not any(d["studied"] for d in datasets)
    assert _tables(url) == set()

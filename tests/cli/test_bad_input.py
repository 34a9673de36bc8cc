"""Bad values in a space file or a data file: exit 2, one line naming them, database unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actsearch.cli import app
from actsearch.store.database import open_storage
from actsearch.store.studies import create_or_load_study
from tests.conftest import add_trial

runner = CliRunner()
MLP = "model: {{family: mlp, depth: 2, {model}}}\nactivations: {{candidates: [relu]}}\n"
HYPER = "activations: {{candidates: [relu]}}\nhyperparameters: {{{hyper}}}\n"

SPACES = [
    (HYPER.format(hyper="optimizer: sgdd"), "optimizer: 'sgdd' is not one of adam"),
    (HYPER.format(hyper="optimizer: {choices: [adam, sgdd]}"), "'sgdd' is not one of"),
    (HYPER.format(hyper="lr: -1"), "lr: -1.0 is out of range; it must be > 0"),
    (HYPER.format(hyper="lr: {low: 0, high: 0.1}"), "lr: 0.0 is out of range"),
    (HYPER.format(hyper="dropout: 1.5"), "dropout: 1.5 is out of range; it must be >= 0 and < 1"),
    (HYPER.format(hyper="dropout: {choices: [0.1, 1.0]}"), "dropout: 1.0 is out of range"),
    (HYPER.format(hyper="batch_size: 0"), "batch_size: 0 is out of range"),
    (HYPER.format(hyper="batch_size: -5"), "batch_size: -5 is out of range"),
    (HYPER.format(hyper="batch_size: {choices: [32, 1.5]}"), "batch_size: 1.5 is not an integer"),
    (HYPER.format(hyper="weight_decay: -0.1"), "weight_decay: -0.1 is out of range"),
    (HYPER.format(hyper="epochs: 0"), "epochs"),
    (MLP.format(model="width: {choices: [abc]}"), "width: 'abc' is not an integer"),
    (MLP.format(model="width: 0"), "width: 0 is out of range"),
    (MLP.format(model="width: {low: -4, high: 8}"), "width: -4 is out of range"),
    ("model: {family: mlp, depth: 0}\nactivations: {candidates: [relu]}\n",
     "depth: 0 is out of range"),
]

ROWS = "\n".join(f"{i},{i % 3},{i % 2}" for i in range(20))
DATA = [
    (f"a,b,y\n{ROWS}\ninf,1,0\n", "infinite or missing feature values in 1 row(s)"),
    ("a,y\n" + "\n".join(f"{i},x" for i in range(20)) + "\n", "single class ('x')"),
    ("y\n" + "\n".join(str(i % 2) for i in range(20)) + "\n", "has no feature column"),
]


@pytest.fixture
def populated(tmp_path: Path) -> tuple[str, Path]:
    """A study database with one study and one trial in it (to check nothing changes)."""
    path = tmp_path / "studies.db"
    storage = open_storage(f"sqlite:///{path}")
    study_id = create_or_load_study(storage, "kept", {"dataset": "iris"})
    add_trial(storage, study_id, {"lr": 0.01}, 0.9)
    storage.engine.dispose()
    return f"sqlite:///{path}", path


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def _refused(args: list[str], url: str, path: Path, named: str, expected: str) -> None:
    before = _dump(path)
    study = "e" if "--epochs" in args else "new"
    result = runner.invoke(app, [*args, "--storage", url, "--study", study, "--trials", "1"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0]
    assert expected in lines[0] and "Traceback" not in result.output
    assert _dump(path) == before


def _refused_file(file: Path, text: str, args: list[str], populated: tuple[str, Path],
                  named: str, expected: str) -> None:
    file.write_text(text)
    url, path = populated
    _refused([*args, str(file)], url, path, named, expected)


@pytest.mark.parametrize(("text", "expected"), SPACES)
def test_bad_space_values_are_refused_before_the_study_exists(
        text: str, expected: str, populated: tuple[str, Path], tmp_path: Path) -> None:
    _refused_file(tmp_path / "bad_space.yaml", text, ["search", "--dataset", "iris", "--space"],
                  populated, "bad_space.yaml", expected)


@pytest.mark.parametrize(("text", "expected"), DATA)
def test_bad_data_files_are_refused_before_the_study_exists(
        text: str, expected: str, populated: tuple[str, Path], tmp_path: Path) -> None:
    _refused_file(tmp_path / "bad_data.csv", text, ["search", "--target", "y", "--data"],
                  populated, "bad_data", expected)


@pytest.mark.parametrize("command", [["search", "--trials", "1"], ["studies", "list"],
                                     ["recommend", "iris"]])
def test_a_malformed_storage_url_is_a_usage_error_that_hides_its_password(
        command: list[str]) -> None:
    url = "postgresql+psycopg://user:hunter2@127.0.0.1:abc/db"
    result = runner.invoke(app, [*command, "--storage", url])
    assert result.exit_code == 2, result.output
    assert "hunter2" not in result.output and "user:***@127.0.0.1:abc" in result.stderr
    assert "is not a database URL" in result.stderr and len(result.stderr.splitlines()) == 1


def test_resuming_with_another_epoch_budget_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    storage = open_storage(f"sqlite:///{path}")
    create_or_load_study(storage, "e", {"dataset": "iris", "epochs": 20})
    storage.engine.dispose()
    _refused(["search", "--dataset", "iris", "--epochs", "5"], f"sqlite:///{path}", path, "'e'",
             "trains 20 epochs per trial, not 5")


def test_a_study_with_trials_no_actsearch_search_made_is_not_resumed(
        populated: tuple[str, Path]) -> None:
    # "kept" holds a trial and records no search space (Optuna alone, or another tool).
    url, path = populated
    before = _dump(path)
    result = runner.invoke(app, ["search", "--dataset", "iris", "--storage", url, "--study",
                                 "kept", "--trials", "1"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: study 'kept' was not made by an actsearch search")
    assert "pass a new --study name" in line
    assert _dump(path) == before


def test_long_inputs_are_cut_in_messages(populated: tuple[str, Path]) -> None:
    url, _ = populated
    name = "x" * 5000
    for args in (["search", "--dataset", name], ["recommend", name],
                 ["search", "--space", name]):
        result = runner.invoke(app, [*args, "--storage", url])
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert len(line) < 600 and "xxx..." in line

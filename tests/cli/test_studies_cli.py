"""``actsearch studies`` and ``datasets`` on a real database (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from actsearch.cli import app
from actsearch.store.database import open_storage
from actsearch.store.studies import create_or_load_study
from actsearch.train.data import dataset_names
from tests.conftest import add_trial

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 's.db'}"
    storage = open_storage(url)
    study_id = create_or_load_study(storage, "wine-default", {"dataset": "wine",
                                                              "space": "default"})
    for value, acts, state in ((0.91, ["relu", "tanh"], TrialState.COMPLETE),
                               (0.97, ["elu", "gelu"], TrialState.COMPLETE),
                               (0.50, ["sigmoid", "sigmoid"], TrialState.PRUNED)):
        add_trial(storage, study_id, {"act_0": acts[0], "act_1": acts[1]}, value, state=state,
                  choices=["relu", "tanh", "elu", "gelu", "sigmoid"],
                  user_attrs={"activations": acts, "epochs": 5, "dead_fraction_max": 0.25})
    return url


def test_list_and_show(db: str) -> None:
    listed = runner.invoke(app, ["studies", "list", "--storage", db, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    (study,) = json.loads(listed.stdout)
    assert (study["name"], study["n_complete"], study["n_pruned"]) == ("wine-default", 2, 1)
    shown = runner.invoke(app, ["studies", "show", "wine-default", "--storage", db, "--format",
                                "json"])
    trials = json.loads(shown.stdout)["trials"]
    assert [t["activations"] for t in trials][:2] == [["elu", "gelu"], ["relu", "tanh"]]
    assert trials[0]["dead_fraction_max"] == 0.25
    table = runner.invoke(app, ["studies", "show", "wine-default", "--storage", db])
    for text in ("0: elu", "1: gelu", "0.9700", "0.25"):
        assert text in table.stdout


def test_delete_asks_and_yes_skips(db: str) -> None:
    declined = runner.invoke(app, ["studies", "delete", "wine-default", "--storage", db],
                             input="n\n")
    assert declined.exit_code == 1
    assert len(open_storage(db).get_all_studies()) == 1
    done = runner.invoke(app, ["studies", "delete", "wine-default", "--storage", db, "--yes"])
    assert done.exit_code == 0 and "deleted study wine-default" in done.stdout
    assert open_storage(db).get_all_studies() == []
    again = runner.invoke(app, ["studies", "delete", "wine-default", "--storage", db, "--yes"])
    assert again.exit_code == 2 and "no study named 'wine-default'" in again.stderr


def test_recommend_table_and_unknown_dataset(db: str) -> None:
    table = runner.invoke(app, ["recommend", "wine", "--storage", db])
    assert table.exit_code == 0 and "elu" in table.stdout and "0.9700" in table.stdout
    assert "unconfirmed" in table.stdout or "confirmed" in table.stdout
    missing = runner.invoke(app, ["recommend", "iris", "--storage", db])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == ("error: no study of dataset 'iris' in this storage "
                                      "(studied: wine); run `actsearch search --dataset iris` "
                                      "first")


def test_read_commands_never_create_a_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    for args in (["studies", "list"], ["studies", "show", "x"]):
        result = runner.invoke(app, [*args, "--storage", url])
        assert result.exit_code == 2 and "does not exist yet" in result.stderr
    # recommend still asks the shipped knowledge base, which does not know this name either.
    result = runner.invoke(app, ["recommend", "digits", "--storage", url])
    assert result.exit_code == 2 and "no study of dataset 'digits'" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_datasets_list_names_every_dataset() -> None:
    result = runner.invoke(app, ["datasets", "list"])
    assert result.exit_code == 0
    for name in dataset_names():
        assert name in result.stdout

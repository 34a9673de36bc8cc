"""`actsearch export`: the network runs with torch alone, on raw rows, as it was trained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import sklearn.datasets
import torch

from actsearch import service
from actsearch.errors import UsageError
from actsearch.search.options import SearchOptions, study_metadata
from actsearch.search.spaces import load_space
from actsearch.store.studies import create_or_load_study
from actsearch.train.data import load_dataset
from tests.conftest import add_trial
from tests.support import cli

LOAD_WITH_TORCH_ALONE = """
import sys
sys.modules["actsearch"] = None  # importing it would fail: the file must not need it
import numpy as np, torch
network = torch.export.load(sys.argv[1]).module()
rows = torch.from_numpy(np.load(sys.argv[2]))
np.save(sys.argv[3], network(rows).detach().numpy())
"""


def _study(url: str) -> None:
    """A study of iris with one completed trial, written as a search would (no Ray)."""
    data, space = load_dataset("iris"), load_space("default")
    storage = service.open_storage(url)
    study_id = create_or_load_study(storage, "iris-default", study_metadata(
        data, space, SearchOptions(dataset="iris"), epochs=30))
    # A fixed configuration that learns iris in 30 epochs: a sampled one (a learning rate of
    # 1e-4 with one step an epoch, say) may not, and this test is about the file, not luck.
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"depth": 2, "width": 64, "act_0": "relu", "act_1": "tanh",
                         "dropout": 0.0, "lr": 1e-2, "weight_decay": 0.0, "batch_size": 32})
    trial = study.ask()
    config = space.suggest_config(trial, data, epochs=30)
    add_trial(storage, study_id, trial.params, 0.9, distributions=trial.distributions,
              user_attrs={"activations": list(config.model.activations)})


def test_an_exported_network_runs_with_torch_alone_on_raw_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url)
    done = service.export(url, "iris", tmp_path / "model")  # the dataset's recommendation
    assert {p.name for p in done.files} == {"model.pt2", "model_state.pt", "config.json",
                                            "rebuild.py"}
    x, y = sklearn.datasets.load_iris(return_X_y=True)  # raw rows, as the user has them
    rows = x.astype(np.float32)
    np.save(tmp_path / "rows.npy", rows)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", LOAD_WITH_TORCH_ALONE, str(tmp_path / "model" /
                    "model.pt2"), str(tmp_path / "rows.npy"), str(tmp_path / "out.npy")],
                   check=True, env=env, cwd=tmp_path)
    loaded = np.load(tmp_path / "out.npy")
    with torch.no_grad():
        trained = done.network(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(loaded, trained, rtol=1e-5, atol=1e-6)
    assert loaded.shape == (150, 3) and np.allclose(loaded.sum(axis=1), 1.0, atol=1e-5)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["classes"] == ["0", "1", "2"] and config["study"] == "iris-default"
    predicted = np.asarray(config["classes"])[loaded.argmax(axis=1)].astype(int)
    # Standardisation is inside the file: raw rows are classified as well as the test split.
    assert (predicted == y).mean() > 0.8 and done.test > 0.8


def test_export_from_the_cli_and_rebuild_with_actsearch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url)
    out = tmp_path / "m"
    run = cli("export", "iris-default", "-o", str(out), "--storage", url)
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and (out / "model.pt2").is_file()
    rebuilt = subprocess.run([sys.executable, "rebuild.py"], cwd=out, capture_output=True,
                             text=True, check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr


def test_export_refuses_what_it_cannot_train(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    _study(url)
    with pytest.raises(UsageError, match="no study of dataset 'nope'"):
        service.export(url, "nope", tmp_path / "x")
    assert not (tmp_path / "x").exists()

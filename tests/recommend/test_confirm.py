"""Confirmation end to end: search, confirm on Ray, recommend with a verdict (both databases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from optuna.trial import TrialState
from sqlalchemy import func, select

from actsearch.storage import open_storage
from actsearch.tables import ConfirmationRun, session_scope
from tests.search.test_search_cli import AGGRESSIVE, _cli, _space

pytestmark = pytest.mark.slow


def test_confirm_then_recommend_states_the_verdict(storage_url: str, tmp_path: Path) -> None:
    space = _space(tmp_path, AGGRESSIVE)
    search = _cli("search", "--dataset", "iris", "--space", space, "--trials", "5",
                  "--storage", storage_url, "--study", "c", "--no-compare-relu")
    assert search.returncode == 0, search.stderr
    before = json.loads(_cli("recommend", "iris", "--storage", storage_url, "--format",
                             "json").stdout)
    assert before["confirmation"] is None and before["verdict"].startswith("unconfirmed")
    confirm = _cli("confirm", "c", "--top-k", "2", "--seeds", "3", "--storage", storage_url)
    assert confirm.returncode == 0, confirm.stderr
    assert "verdict" in confirm.stdout
    rec = json.loads(_cli("recommend", "iris", "--storage", storage_url, "--format",
                          "json").stdout)
    c = rec["confirmation"]
    assert c["n"] == 3 and c["relu_n"] == 3 and c["seeds"] == [0, 1, 2]
    assert rec["verdict"] in ("better than ReLU", "no significant difference", "worse than ReLU")
    assert c["ci_low"] <= c["difference"] <= c["ci_high"]
    storage = open_storage(storage_url, create=False)
    complete = storage.get_all_trials(storage.get_study_id_from_name("c"),
                                      states=(TrialState.COMPLETE,))
    if len(complete) >= 3:  # fANOVA needs a few completed trials to explain anything
        assert rec["importance"] and all(v >= 0 for v in rec["importance"].values())
    else:
        assert rec["importance"] is None
    confirmed = min(2, len(complete))  # the aggressive pruner may leave only one complete
    with session_scope(storage.engine) as session:
        runs = session.scalar(select(func.count()).select_from(ConfirmationRun))
    assert runs == confirmed * 2 * 3  # trials x (searched, relu) x 3 seeds
    again = _cli("confirm", "c", "--top-k", "2", "--seeds", "3", "--storage", storage_url)
    assert again.returncode == 0  # nothing new to run: the recorded runs are kept, not redone
    with session_scope(storage.engine) as session:
        assert session.scalar(select(func.count()).select_from(ConfirmationRun)) == runs


def test_confirm_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    missing = _cli("confirm", "nope", "--storage", url)
    assert missing.returncode == 2 and "does not exist yet" in missing.stderr
    one_seed = _cli("confirm", "nope", "--seeds", "1", "--storage", url)
    assert one_seed.returncode == 2 and "--seeds >= 2" in one_seed.stderr


def test_warm_start_enqueues_fitting_configurations_of_similar_datasets(tmp_path: Path) -> None:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.trial import TrialState

    from actsearch.recommend import refresh_recommendation
    from actsearch.storage import create_or_load_study

    url = f"sqlite:///{tmp_path / 'w.db'}"
    storage = open_storage(url)
    fits = {"depth": 2, "act_0": "tanh", "act_1": "elu", "act_1_alpha": 1.25, "lr": 0.02}
    alien = {"depth": 2, "act_0": "mish", "act_1": "relu", "lr": 0.02}  # mish: not a choice
    for dataset, params, meta in (
            ("wine", fits, {"samples": 178, "features": 13, "classes": 3,
                            "class_balance": 0.68, "task": "multiclass"}),
            ("digits", alien, {"samples": 1797, "features": 64, "classes": 10,
                               "class_balance": 0.95, "task": "multiclass"})):
        study_id = create_or_load_study(storage, f"{dataset}-x", {"dataset": dataset,
                                                                  "meta": meta})
        dists = {k: CategoricalDistribution(["tanh", "elu", "mish", "relu"])
                 for k in params if k.startswith("act_") and k.count("_") == 1}
        dists.update(depth=IntDistribution(2, 3), lr=FloatDistribution(1e-4, 0.1, log=True))
        if "act_1_alpha" in params:
            dists["act_1_alpha"] = FloatDistribution(0.5, 1.5)
        storage.create_new_trial(study_id, template_trial=optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=0.9, params=params, distributions=dists,
            user_attrs={"activations": [params["act_0"], params["act_1"]]}))
        refresh_recommendation(storage, dataset)
    run = _cli("search", "--dataset", "iris", "--space", _space(tmp_path, AGGRESSIVE),
               "--trials", "2", "--workers", "1", "--storage", url, "--study", "warm",
               "--warm-start", "--no-compare-relu")
    assert run.returncode == 0, run.stderr
    trials = storage.get_all_trials(storage.get_study_id_from_name("warm"))
    warm = [t for t in trials if t.user_attrs.get("warm_start_from")]
    assert [t.user_attrs["warm_start_from"] for t in warm] == ["wine"]
    assert warm[0].params == fits and warm[0].number == 0

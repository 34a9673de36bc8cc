"""The library service: what both faces get, checked once here rather than per face."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from actsearch import service
from actsearch.errors import UsageError
from actsearch.service.background import search_command
from actsearch.store.studies import create_or_load_study
from tests.conftest import add_trial


def test_a_study_shows_complete_trials_before_pruned_ones_best_first(storage_url: str) -> None:
    storage = service.open_storage(storage_url)
    study_id = create_or_load_study(storage, "s", {"dataset": "iris"})
    for act, value, state in (("relu", 0.7, TrialState.COMPLETE),
                              ("tanh", 0.95, TrialState.PRUNED),
                              ("elu", 0.9, TrialState.COMPLETE),
                              ("gelu", None, TrialState.FAIL)):
        add_trial(storage, study_id, {"act_0": act, "lr": 0.01}, value, state=state,
                  choices=["relu", "tanh", "elu", "gelu"], user_attrs={"activations": [act]})
    detail = service.show_study(storage, "s", top=2)
    assert detail.finished == 3 and detail.info.n_failed == 1
    assert [(r.activations, r.state, r.value) for r in detail.trials] == [
        (["elu"], "complete", 0.9), (["relu"], "complete", 0.7)]
    assert detail.trials[0].hyperparameters == {"lr": 0.01}  # activations apart
    page = service.show_study(storage, "s", top=2, offset=2)
    assert [(r.activations, r.state) for r in page.trials] == [(["tanh"], "pruned")]
    with pytest.raises(UsageError, match="no study named 'nope'"):
        service.show_study(storage, "nope")


def test_a_background_search_runs_the_cli_with_the_requested_options() -> None:
    study, args = search_command(service.SearchOptions(
        dataset="wine", space="seeds", trials=7, workers=3, epochs=4, seed=5, confirm=True))
    assert study == "wine-seeds"
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    assert pairs["--dataset"] == "wine" and pairs["--space"] == "seeds"
    assert pairs["--trials"] == "7" and pairs["--workers"] == "3" and pairs["--epochs"] == "4"
    assert pairs["--seed"] == "5" and pairs["--study"] == "wine-seeds" and args[-1] == "--confirm"
    named, _ = search_command(service.SearchOptions(dataset="iris", study="mine"))
    assert named == "mine"


@pytest.mark.parametrize(("dataset", "space", "message"), [
    ("../etc/passwd.csv", "default", "unknown dataset"),
    ("iris", "/tmp/space.yaml", "unknown search space"),
])
def test_a_server_starts_only_built_in_datasets_and_spaces(dataset: str, space: str,
                                                           message: str) -> None:
    with pytest.raises(UsageError, match=message):
        search_command(service.SearchOptions(dataset=dataset, space=space))

"""The staged strategy: ReLU while shape and hyperparameters are searched, then activations."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from actsearch.search.strategy import MAX_LAYERS, staged_params
from tests.conftest import frozen_trial
from tests.support import cli, study_trials, write_space

SPACE = """
model: {family: mlp, depth: {low: 1, high: 2}, width: {choices: [8, 16]}}
activations: {candidates: [relu, tanh, elu]}
hyperparameters: {lr: {low: 3.0e-3, high: 3.0e-2, log: true}, epochs: 3}
sampler: {name: random}
pruner: {name: none}
"""


def test_first_stage_fixes_relu_then_the_best_shape_and_hyperparameters() -> None:
    assert staged_params([], 4, 0.5, per_layer=True) == {f"act_{i}": "relu"
                                                         for i in range(MAX_LAYERS)}
    assert staged_params([], 4, 0.5, per_layer=False) == {"act": "relu"}
    first = [frozen_trial({"width": 8, "act_0": "relu", "lr": 0.01}, 0.8),
             frozen_trial({"width": 16, "act_0": "relu", "lr": 0.02}, 0.9)]
    assert staged_params(first[:1], 4, 0.5, per_layer=False) == {"act": "relu"}  # stage one
    assert staged_params(first, 4, 0.5, per_layer=True) == {"width": 16, "lr": 0.02}
    pruned = [frozen_trial({"width": 8, "act_0": "relu", "lr": 0.01}, None,
                           state=TrialState.PRUNED)] * 2
    assert staged_params(pruned, 4, 0.5, per_layer=True) is None  # nothing to build on yet
    assert staged_params([], 4, 0.5, per_layer=False, first="tanh") == {"act": "tanh"}


@pytest.mark.slow
def test_a_staged_search_spends_its_first_half_on_relu(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    run = cli("search", "--dataset", "iris", "--space", write_space(tmp_path, SPACE), "--trials",
               "4", "--workers", "1", "--storage", url, "--study", "s", "--strategy", "staged",
               "--no-compare-relu", "--no-artifacts")
    assert run.returncode == 0, run.stderr
    trials = sorted(study_trials(url, "s"), key=lambda t: t.number)
    assert all(set(t.user_attrs["activations"]) == {"relu"} for t in trials[:2])
    best = max(trials[:2], key=lambda t: (t.value, -t.number))
    shape = {k: v for k, v in best.params.items() if not k.startswith("act")}
    for trial in trials[2:]:
        assert {k: v for k, v in trial.params.items() if not k.startswith("act")} == shape

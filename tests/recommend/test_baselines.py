"""Baseline spaces, the choice among sides, and parameters moved between space layouts."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import FixedTrial

from actsearch.recommend.knowledge import fits, params_for_space
from actsearch.recommend.recommendation import Confirmed, choose
from actsearch.search.baselines import baseline_space, needed_baselines, relu_twin
from actsearch.search.spaces import SearchSpace, load_space
from actsearch.store.studies import StoredStudy
from actsearch.train.data import load_dataset
from tests.conftest import frozen_trial


def _space(**activations: object) -> SearchSpace:
    return SearchSpace.model_validate({
        "name": "s", "model": {"family": "mlp", "depth": {"low": 1, "high": 3}, "width": 8},
        "activations": {"candidates": ["relu", "elu", "tanh"], **activations},
        "hyperparameters": {"lr": {"low": 1e-3, "high": 1e-1, "log": True}, "epochs": 3}})


def test_baselines_keep_everything_but_the_activations() -> None:
    space = load_space("default")
    relu, uniform = baseline_space(space, "tuned_relu"), baseline_space(space, "uniform")
    for baseline in (relu, uniform):
        for part in ("model", "hyperparameters", "sampler", "pruner"):
            assert getattr(baseline, part) == getattr(space, part)
        assert not baseline.activations.per_layer
    assert relu.activations.choices() == ["relu"]
    assert uniform.activations.choices() == space.activations.choices()
    assert uniform.activations.params == space.activations.params
    data = load_dataset("iris")
    config = relu.suggest_config(optuna.trial.FixedTrial(
        {"depth": 3, "width": 64, "act": "relu", "lr": 0.01, "weight_decay": 0.0,
         "batch_size": 32, "dropout": 0.1}), data)
    assert config.model.activations == ("relu",) * 3


def test_needed_baselines_skip_the_ones_a_space_already_is() -> None:
    assert needed_baselines(_space()) == ["tuned_relu", "uniform"]
    assert needed_baselines(_space(per_layer=False)) == ["tuned_relu"]
    assert needed_baselines(_space(candidates=["relu"])) == []
    assert needed_baselines(_space(candidates=["tanh"])) == ["tuned_relu"]


def test_relu_twin_changes_only_the_activations() -> None:
    data = load_dataset("iris")
    config = _space(params={"elu": {"alpha": {"low": 0.5, "high": 1.5}}}).suggest_config(
        FixedTrial({"depth": 2, "act_0": "elu", "act_0_alpha": 0.7, "act_1": "tanh",
                    "lr": 0.02}), data, seed=4)
    twin = relu_twin(config)
    assert twin.model.activations == ("relu", "relu") and twin.model.activation_params == ()
    assert (twin.lr, twin.seed, twin.model.hidden) == (config.lr, 4, config.model.hidden)


def _confirmed(side: str, val: list[float], number: int = 0) -> Confirmed:
    study = StoredStudy(number, f"{side}-study", {"actsearch": {"baseline_kind": side}
                                              if side != "search" else {}})
    trial = frozen_trial({}, val[0])
    return Confirmed(study, trial, tuple(val), tuple(val), None, tuple(range(len(val))))


def test_choose_prefers_the_simpler_side_unless_clearly_better() -> None:
    relu = _confirmed("tuned_relu", [0.90, 0.91, 0.92])
    close = _confirmed("search", [0.905, 0.915, 0.925])  # +0.005, within a standard error
    clear = _confirmed("search", [0.95, 0.96, 0.97])
    assert choose({"tuned_relu": relu, "search": close}) is relu
    assert choose({"tuned_relu": relu, "search": clear}) is clear
    worse = _confirmed("uniform", [0.80, 0.81, 0.82])
    assert choose({"tuned_relu": relu, "uniform": worse}) is relu
    assert choose({"search": close}) is close
    identical = _confirmed("uniform", [0.9, 0.9])
    assert choose({"uniform": identical, "search": _confirmed("search", [0.9, 0.9])}) is identical


@pytest.mark.parametrize(("params", "per_layer", "expected", "fits_space"), [
    ({"depth": 2, "act": "elu", "act_alpha": 0.7, "lr": 0.01}, True,
     {"depth": 2, "act_0": "elu", "act_0_alpha": 0.7, "act_1": "elu", "act_1_alpha": 0.7,
      "lr": 0.01}, True),
    ({"depth": 2, "act_0": "tanh", "act_1": "tanh", "lr": 0.01}, False,
     {"depth": 2, "act": "tanh", "lr": 0.01}, True),
    ({"depth": 2, "act_0": "tanh", "act_1": "relu", "lr": 0.01}, False,
     {"depth": 2, "act_0": "tanh", "act_1": "relu", "lr": 0.01}, False),  # no uniform twin
])
def test_params_move_between_per_layer_and_uniform_layouts(
        params: dict[str, object], per_layer: bool, expected: dict[str, object],
        fits_space: bool) -> None:
    space = _space(per_layer=per_layer, params={"elu": {"alpha": {"low": 0.5, "high": 1.5}}})
    moved = params_for_space(params, 2, space)
    assert moved == expected
    data = load_dataset("iris")
    assert fits(space, moved, data) is fits_space

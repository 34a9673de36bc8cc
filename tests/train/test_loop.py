"""The training loop: determinism, metrics per task, telemetry, divergence."""

from __future__ import annotations

import numpy as np
import torch

from actsearch.train.data import load_dataset, prepare
from actsearch.train.loop import TrainConfig, Trainer, train
from actsearch.train.models import MLPConfig


def _config(data, acts=("relu", "relu"), **kw):  # type: ignore[no-untyped-def]
    return TrainConfig(MLPConfig(data.n_features, data.out_features, (32,) * len(acts), acts),
                       **kw)


def test_same_seed_same_run_on_cpu() -> None:
    data = load_dataset("iris")
    first = [r.value for r in train(_config(data, epochs=5, seed=3), data)[1]]
    second = [r.value for r in train(_config(data, epochs=5, seed=3), data)[1]]
    other = [r.value for r in train(_config(data, epochs=5, seed=4, lr=0.05), data)[1]]
    assert first == second
    assert first != other


def test_learns_each_task_kind() -> None:
    for name, floor in (("iris", 0.8), ("breast_cancer", 0.9), ("diabetes", 0.2)):
        data = load_dataset(name)
        trainer, history = train(_config(data, epochs=30, lr=3e-3), data)
        assert history[-1].value > floor, (name, history[-1].value)
        assert not any(r.diverged for r in history)
        assert trainer.score("test") > floor - 0.2


def test_divergence_is_reported_not_raised() -> None:
    data = load_dataset("digits")
    _, history = train(_config(data, epochs=5, lr=1e4, optimizer="sgd"), data)
    assert history[-1].diverged
    assert len(history) < 5 or np.isnan(history[-1].value)


def test_telemetry_sees_dead_relu_units() -> None:
    data = load_dataset("iris")
    trainer = Trainer(_config(data, epochs=1), data)
    with torch.no_grad():  # kill half of the first layer: very negative biases
        trainer.model.blocks[0].layer.bias[:16] = -1e3
    result = trainer.train_epoch()
    first = result.telemetry[0]
    assert 0.5 <= first.dead_fraction < 0.75  # the 16 killed units, and maybe a few more
    assert first.saturation is not None and first.saturation >= 0.5
    assert first.grad_norm > 0
    assert len(result.telemetry) == 2


def test_telemetry_for_maxout_has_no_saturation_and_sigmoid_saturates() -> None:
    data = load_dataset("iris")
    trainer = Trainer(_config(data, acts=("maxout", "sigmoid"), epochs=1), data)
    with torch.no_grad():
        trainer.model.blocks[1].layer.weight.mul_(100.0)  # push sigmoids into their tails
    maxout, sigmoid = trainer.train_epoch().telemetry
    assert maxout.saturation is None
    assert sigmoid.saturation is not None and sigmoid.saturation > 0.5


def test_regression_metric_is_r2() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    data = prepare("lin", x, x @ np.array([1.0, -2.0, 0.5]), "regression")
    _, history = train(_config(data, acts=("identity",), epochs=40, lr=1e-2), data)
    assert history[-1].value > 0.99

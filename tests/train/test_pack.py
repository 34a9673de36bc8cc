"""A pack trains each member as if it trained alone: same losses, scores and weights (up to
float rounding), whatever its neighbours, while they join, leave, fail or diverge."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import torch

from actsearch import activations
from actsearch.train.data import Dataset, load_dataset
from actsearch.train.loop import EpochResult, OptimizerName, TrainConfig, Trainer
from actsearch.train.models import CNNConfig, MLPConfig
from actsearch.train.pack import TrialPack, stack_key
from tests.support import pack_beside_lone_twins

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def iris() -> Dataset:
    return load_dataset("iris")


def mlp(data: Dataset, acts: tuple[str, ...], lr: float, *, optimizer: OptimizerName = "adam",
        weight_decay: float = 0.0, seed: int = 0, epochs: int = 3, width: int = 16,
        params: tuple[Mapping[str, Any], ...] = ()) -> TrainConfig:
    return TrainConfig(MLPConfig(data.n_features, data.out_features, (width,) * len(acts), acts,
                                 params),
                       optimizer=optimizer, lr=lr, weight_decay=weight_decay, batch_size=32,
                       epochs=epochs, seed=seed)


def assert_same(packed: EpochResult, alone: EpochResult) -> None:
    assert packed.epoch == alone.epoch
    assert packed.train_loss == pytest.approx(alone.train_loss, abs=TOLERANCE)
    assert packed.value == pytest.approx(alone.value, abs=TOLERANCE)
    assert packed.diverged == alone.diverged
    assert [t.dead_fraction for t in packed.telemetry] == pytest.approx(
        [t.dead_fraction for t in alone.telemetry], abs=TOLERANCE)


def assert_same_weights(pack: TrialPack, key: int, alone: Trainer) -> None:
    for p, q in zip(pack.members[key].trainer.model.parameters(), alone.model.parameters(),
                    strict=True):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_members_train_as_they_would_alone(iris: Dataset, optimizer: OptimizerName) -> None:
    configs = [
        # Two sharing every function (one call per layer for both), with different rates.
        mlp(iris, ("relu", "tanh"), 1e-2, optimizer=optimizer, seed=1),
        mlp(iris, ("relu", "tanh"), 3e-3, optimizer=optimizer, weight_decay=1e-3, seed=2),
        # A learnable activation (its own optimiser), a width-changing one, a parameterised one.
        mlp(iris, ("gelu", "prelu"), 2e-2, optimizer=optimizer, weight_decay=1e-4, seed=3),
        mlp(iris, ("maxout", "relu"), 1e-2, optimizer=optimizer, seed=4),
        mlp(iris, ("leaky_relu", "elu"), 1e-2, optimizer=optimizer, seed=5,
            params=({"negative_slope": 0.2}, {"alpha": 0.5})),
    ]
    pack, alone = pack_beside_lone_twins(iris, configs, "cpu")
    for _ in range(3):
        results = pack.train_epoch()
        for key, trainer in enumerate(alone):
            packed = results[key]
            assert isinstance(packed, EpochResult)
            assert_same(packed, trainer.train_epoch())
    assert len(pack) == 0  # every member reached its last epoch and left


def test_members_join_and_leave_between_epochs(iris: Dataset) -> None:
    first = mlp(iris, ("silu", "silu"), 1e-2, seed=7, epochs=4)
    second = mlp(iris, ("tanh", "silu"), 5e-3, seed=8, epochs=2)
    third = mlp(iris, ("silu", "tanh"), 2e-2, seed=9, epochs=3)
    pack = TrialPack(iris, "cpu")
    pack.add(1, first)
    alone = {1: Trainer(first, iris, "cpu")}
    seen: dict[int, list[int]] = {}
    for epoch in range(4):
        if epoch == 3:
            assert_same_weights(pack, 1, alone[1])
        if epoch == 1:  # joins late: its state starts fresh beside the first's
            pack.add(2, second)
            alone[2] = Trainer(second, iris, "cpu")
        if epoch == 2:
            pack.add(3, third)
            alone[3] = Trainer(third, iris, "cpu")
        for key, result in pack.train_epoch().items():
            assert isinstance(result, EpochResult)
            assert_same(result, alone[key].train_epoch())
            seen.setdefault(key, []).append(result.epoch)
            if key == 3 and result.epoch == 1:
                pack.remove(3)  # pruned by the driver after one epoch
    assert seen == {1: [1, 2, 3, 4], 2: [1, 2], 3: [1]}
    assert len(pack) == 0


def test_a_member_alone_in_its_group_keeps_its_optimiser_state(iris: Dataset) -> None:
    """When its neighbours leave, a member goes on as a stack of one with its own state;
    restarting Adam from nothing would change its next epochs."""
    configs = [mlp(iris, ("relu", "relu"), 1e-2, seed=s, epochs=e) for s, e in [(1, 1), (2, 3)]]
    pack = TrialPack(iris, "cpu")
    for key, config in enumerate(configs):
        pack.add(key, config)
    alone = Trainer(configs[1], iris, "cpu")
    for epoch in range(1, 4):
        result = pack.train_epoch()[1]
        assert isinstance(result, EpochResult)
        assert_same(result, alone.train_epoch())
        if epoch == 2:
            assert list(pack.members) == [1]
            assert_same_weights(pack, 1, alone)


@contextlib.contextmanager
def registered(name: str, module: type[torch.nn.Module]) -> Iterator[str]:
    """``module`` in the catalogue as ``name`` for the block's length."""
    activations.register_activation(name)(module)
    try:
        yield name
    finally:
        activations.unregister(name)


@pytest.fixture
def failing_activation() -> Iterator[str]:
    class Broken(torch.nn.Module):
        """Fails from its second training batch on, after the pack has taken one step."""

        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            Broken.calls += 1
            if Broken.calls >= 2:
                raise RuntimeError("this activation fails midway")
            return torch.relu(x)

    with registered("broken_for_test", Broken) as name:
        yield name


def test_a_failing_member_gets_its_error_and_the_others_go_on(
        iris: Dataset, failing_activation: str) -> None:
    """The stack fails midway; the others retry the epoch from where they were (data order,
    learnable activations and their optimiser put back), so their results do not change."""
    good = mlp(iris, ("relu", "prelu"), 1e-2, seed=1, epochs=4)
    bad = mlp(iris, ("relu", failing_activation), 1e-2, seed=2)
    pack = TrialPack(iris, "cpu")
    pack.add(0, good)
    pack.add(1, bad)
    alone = Trainer(good, iris, "cpu")
    results = pack.train_epoch()
    assert isinstance(results[1], RuntimeError)
    assert "fails midway" in str(results[1])
    assert list(pack.members) == [0]
    for _ in range(3):
        assert isinstance(results[0], EpochResult)
        assert_same(results[0], alone.train_epoch())
        assert_same_weights(pack, 0, alone)
        results = pack.train_epoch()


@pytest.fixture
def fails_when_validating() -> Iterator[str]:
    class TrainsOnly(torch.nn.Module):
        """Trains like ReLU; fails in evaluation mode, after the stack has trained."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not self.training:
                raise RuntimeError("this activation cannot validate")
            return torch.relu(x)

    with registered("trains_only_for_test", TrainsOnly) as name:
        yield name


def test_a_member_failing_validation_does_not_retrain_the_others(
        iris: Dataset, fails_when_validating: str) -> None:
    good = mlp(iris, ("relu", "tanh"), 1e-2, seed=1)
    bad = mlp(iris, ("relu", fails_when_validating), 1e-2, seed=2)
    pack = TrialPack(iris, "cpu")
    pack.add(0, good)
    pack.add(1, bad)
    alone = Trainer(good, iris, "cpu")
    results = pack.train_epoch()
    assert isinstance(results[1], RuntimeError) and "cannot validate" in str(results[1])
    assert list(pack.members) == [0]
    for _ in range(2):  # trained once per epoch, not again after the other's error
        assert isinstance(results[0], EpochResult)
        assert_same(results[0], alone.train_epoch())
        assert_same_weights(pack, 0, alone)
        results = pack.train_epoch()


def test_a_diverging_member_leaves_without_harming_the_others(iris: Dataset) -> None:
    steady = mlp(iris, ("tanh", "tanh"), 1e-2, optimizer="sgd", seed=1)
    wild = mlp(iris, ("relu", "relu"), 1e8, optimizer="sgd", seed=2)
    pack = TrialPack(iris, "cpu")
    pack.add(0, steady)
    pack.add(1, wild)
    alone = Trainer(steady, iris, "cpu")
    results = pack.train_epoch()
    diverged = results[1]
    assert isinstance(diverged, EpochResult) and diverged.diverged
    assert 1 not in pack.members
    assert isinstance(results[0], EpochResult)
    assert_same(results[0], alone.train_epoch())


def test_what_cannot_stack_trains_alone_exactly(iris: Dataset) -> None:
    """Different shapes form different groups; a CNN never stacks; unstacked packs train
    every member with torch.optim, bit for bit as a lone trainer."""
    digits = load_dataset("digits")
    cnn = TrainConfig(CNNConfig(1, 8, 10, (4,), (8,), ("relu", "tanh")), epochs=2, seed=3)
    assert stack_key(Trainer(cnn, digits, "cpu")) is None
    narrow, wide = mlp(iris, ("relu",), 1e-2, width=8), mlp(iris, ("relu",), 1e-2, width=16)
    assert stack_key(Trainer(narrow, iris, "cpu")) != stack_key(Trainer(wide, iris, "cpu"))

    pack = TrialPack(digits, "cpu")
    pack.add(0, cnn)
    alone = Trainer(cnn, digits, "cpu")
    result = pack.train_epoch()[0]
    assert isinstance(result, EpochResult)
    expected = alone.train_epoch()
    assert (result.train_loss, result.value) == (expected.train_loss, expected.value)

    unstacked = TrialPack(iris, "cpu", stacked=False)
    unstacked.add(0, narrow)
    alone = Trainer(narrow, iris, "cpu")
    for _ in range(3):
        result = unstacked.train_epoch()[0]
        assert isinstance(result, EpochResult)
        expected = alone.train_epoch()
        assert (result.train_loss, result.value) == (expected.train_loss, expected.value)


def test_stacked_selu_layers_drop_out_as_selu_needs_and_others_as_usual(iris: Dataset) -> None:
    from actsearch.train.pack import Member, StackedGroup, _plan_layer

    members = [Member(Trainer(TrainConfig(MLPConfig(4, 3, (256,), (act,), dropout=0.5),
                                          seed=i), iris, "cpu"))
               for i, act in enumerate(("selu", "relu"))]
    plan = _plan_layer(members, 0, torch.device("cpu"))
    z = torch.randn(2, 1024, 256, generator=torch.Generator().manual_seed(0))
    out = StackedGroup._activate(plan, z, training=True)
    selu, relu = out[0], out[1]
    # Alpha-dropout keeps SELU's zero mean and unit variance and leaves no unit at exactly 0;
    # standard dropout after ReLU zeroes half of the units ReLU lets through.
    assert abs(float(selu.mean())) < 0.05 and float(selu.var()) == pytest.approx(1, abs=0.1)
    assert float((selu == 0).float().mean()) == 0.0
    alive = torch.relu(z[1]) > 0
    assert float((relu[alive] == 0).float().mean()) == pytest.approx(0.5, abs=0.02)

"""A trained network's cost: its parameters and FLOPs match the network's shape, latency is
measured per example on the network itself, and a trial's last epoch carries it."""

from __future__ import annotations

import threading

import pytest
import torch

from actsearch.train.cost import counting_flops, inference_cost
from actsearch.train.data import load_dataset
from actsearch.train.loop import TrainConfig, Trainer
from actsearch.train.models import MLPConfig, build_model


def test_parameters_and_flops_follow_the_layers() -> None:
    # maxout doubles the layer before it: 13 -> 2*16 -> (maxout) 16 -> 8 -> 3.
    model = build_model(MLPConfig(13, 3, (16, 8), ("maxout", "relu")))
    widths = [(13, 32), (16, 8), (8, 3)]
    cost = inference_cost(model, torch.randn(50, 13))
    assert cost.params == sum(i * o + o for i, o in widths)
    assert cost.flops == sum(2 * i * o for i, o in widths)  # per example, not per batch
    assert cost.latency_ms > 0 and cost.device == "cpu"
    assert not model.training


def test_latency_is_the_networks_own() -> None:
    """Not a fixed overhead: a network with ~4,000 times the arithmetic takes longer per
    example (by far more than this machine's noise)."""
    x = torch.randn(256, 64)
    small = inference_cost(build_model(MLPConfig(64, 2, (4,), ("relu",))), x)
    large = inference_cost(build_model(MLPConfig(64, 2, (1024,) * 4, ("relu",) * 4)), x)
    assert large.flops > 1000 * small.flops
    assert large.latency_ms > 3 * small.latency_ms


def test_a_trials_last_epoch_carries_the_cost() -> None:
    data = load_dataset("iris")
    config = TrainConfig(MLPConfig(data.n_features, data.out_features, (8,), ("tanh",)),
                         epochs=2, seed=0)
    trainer = Trainer(config, data, "cpu")
    first, last = trainer.train_epoch(), trainer.train_epoch()
    assert first.cost is None
    assert last.cost is not None and last.cost.params == sum(
        p.numel() for p in trainer.model.parameters())


def test_a_diverged_trial_has_no_cost() -> None:
    data = load_dataset("iris")
    config = TrainConfig(MLPConfig(data.n_features, data.out_features, (16, 16),
                                   ("relu", "relu")),
                         optimizer="sgd", lr=1e8, batch_size=32, epochs=1, seed=2)
    result = Trainer(config, data, "cpu").train_epoch()
    assert result.diverged
    assert result.cost is None


@pytest.mark.parametrize("rows", [1, 300])
def test_a_split_of_any_size_is_timed_on_a_full_batch(rows: int) -> None:
    cost = inference_cost(build_model(MLPConfig(5, 2, (4,), ("relu",))), torch.randn(rows, 5))
    assert cost.latency_ms > 0 and cost.flops == 2 * (5 * 4 + 4 * 2)


def _grad_in_another_thread() -> BaseException | None:
    """What ``torch.autograd.grad`` through a module raises in another thread, if anything
    (the training loop's saturation telemetry does this)."""
    errors: list[BaseException] = []

    def telemetry() -> None:
        try:
            z = torch.randn(8, 4, requires_grad=True)
            torch.autograd.grad(torch.nn.Tanh()(z).sum(), z)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    thread = threading.Thread(target=telemetry)
    thread.start()
    thread.join()
    return errors[0] if errors else None


def test_counting_flops_leaves_other_threads_training() -> None:
    """Two trials in one process (threads, as with Optuna's n_jobs): one trial's FLOP count
    must not break the other's gradients. torch's FlopCounterMode does (global hooks)."""
    model = build_model(MLPConfig(4, 2, (8,), ("relu",)))
    with counting_flops() as count:
        model(torch.randn(1, 4))
        assert _grad_in_another_thread() is None
    assert count.total == 2 * (4 * 8 + 8 * 2)

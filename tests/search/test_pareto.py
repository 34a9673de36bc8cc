"""The Pareto front and the cost-aware pruning rule (search.pareto), without Ray."""

from __future__ import annotations

import itertools

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st
from optuna.trial import TrialState

from actsearch.search.pareto import CostAwarePruning, pareto_front

Point = tuple[float, float]  # (score, latency)


def _dominated(a: Point, points: list[Point]) -> bool:
    return any(b[0] >= a[0] and b[1] <= a[1] and b != a for b in points)


# Coarse points as well as fine ones: ties in score, latency or both must be handled.
POINTS = st.one_of(st.tuples(st.floats(0, 1), st.floats(0.001, 10)),
                   st.tuples(st.integers(0, 3).map(float), st.integers(1, 3).map(float)))


@given(st.lists(POINTS, max_size=30))
def test_the_front_is_exactly_the_points_nothing_dominates(points: list[Point]) -> None:
    front = pareto_front(points, value=lambda p: p[0], latency=lambda p: p[1])
    assert sorted(front) == sorted(p for p in points if not _dominated(p, points))
    assert [p[1] for p in front] == sorted(p[1] for p in front)  # fastest first


def _median_pruning() -> CostAwarePruning:
    # Prunes from the first epoch once one trial has completed.
    return CostAwarePruning(optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0))


def _finish(pruning: CostAwarePruning, key: int, curve: list[float], latency: float) -> None:
    pruning.start(key)
    for epoch, value in enumerate(curve, 1):
        pruning.report(key, epoch, value, latency)
    pruning.end(key, TrialState.COMPLETE, curve[-1], latency)


@pytest.mark.parametrize(("value", "latency", "pruned"), [
    (0.5, 2.0, True),  # behind at epoch 1, and slower than the completed trial
    (0.5, 0.5, False),  # behind, but cheaper than every completed trial: may end on the front
    (0.85, 9.0, False),  # ahead on its curve, however slow
])
def test_a_trial_is_pruned_only_behind_a_completed_trial_no_slower(
        value: float, latency: float, pruned: bool) -> None:
    pruning = _median_pruning()
    _finish(pruning, 0, [0.8, 0.9, 0.95], latency=1.0)
    pruning.start(1)
    pruning.report(1, 1, value, latency=latency)
    assert pruning.should_prune(1, 1) is pruned


def test_completed_trials_read_from_the_database_count() -> None:
    """A resumed search compares with the trials of earlier runs (their curve and latency)."""
    pruning = _median_pruning()
    pruning.observe(optuna.trial.create_trial(
        state=TrialState.COMPLETE, values=[0.95, 1.0], intermediate_values={1: 0.8, 2: 0.9},
        user_attrs={"cost": {"latency_ms": 1.0, "params": 10, "flops": 20, "device": "cpu"}}))
    pruning.start(7)
    pruning.report(7, 1, 0.5, latency=1.5)
    assert pruning.should_prune(7, 1)


@pytest.mark.parametrize("state", [TrialState.PRUNED, TrialState.FAIL])
def test_only_completed_trials_can_dominate(state: TrialState) -> None:
    pruning = _median_pruning()
    _finish(pruning, 0, [0.8], latency=5.0)  # the median pruner's one completed trial
    pruning.start(1)
    pruning.report(1, 1, 0.9, latency=1.0)
    pruning.end(1, state, 0.9, 1.0)  # fast and ahead, but it did not complete
    pruning.start(2)
    pruning.report(2, 1, 0.1, latency=2.0)
    # Behind the median, but the only completed trial is slower: not dominated.
    assert not pruning.should_prune(2, 1)


def test_the_rule_never_prunes_what_the_spaces_pruner_keeps() -> None:
    pruning = CostAwarePruning(optuna.pruners.NopPruner())
    _finish(pruning, 0, [0.9, 0.95], latency=1.0)
    for key, value in zip(itertools.count(1), [0.1, 0.2]):
        pruning.start(key)
        pruning.report(key, 1, value, latency=3.0)
        assert not pruning.should_prune(key, 1)

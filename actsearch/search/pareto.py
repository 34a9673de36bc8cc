"""Cost-aware searches: the task metric against inference latency.

A cost-aware study has two objectives, the metric (maximised) and the trained network's
latency per example (minimised), and Optuna's multi-objective samplers choose its trials.
Optuna's pruners take one objective, so :class:`CostAwarePruning` prunes on the metric's
learning curve with the space's pruner, but only a trial that is already dominated on cost:

    a trial is pruned at epoch *e* when the space's pruner would prune it on its learning
    curve *and* a completed trial that is no slower was at least as good at epoch *e*.

Pruning rests on learning curves not crossing (what a curve shows at epoch *e* is where it
ends, relatively); under that same premise the completed trial ends at least as good, and is
no slower, so it dominates the pruned one, which could not have ended on the Pareto front.
A trial faster than every completed one is never pruned. Latency depends on the network's
shape, not its weights, so a trial's latency is measured after its first epoch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState

from actsearch.store.studies import latency_of, metric_value

_T = TypeVar("_T")


def pareto_front(items: Sequence[_T], value: Callable[[_T], float],
                 latency: Callable[[_T], float]) -> list[_T]:
    """The items no other item dominates (at least as good and no slower, better in one),
    fastest first.

    One sort and one sweep (a recommendation is rebuilt whenever a search's best improves,
    over every completed trial): an item is on the front when it is the best of its latency
    and better than everything faster.
    """
    ordered = sorted(items, key=lambda a: (latency(a), -value(a)))
    front: list[_T] = []
    best_faster = float("-inf")  # the best value among strictly faster items
    for _, group in itertools.groupby(ordered, key=latency):
        tied = list(group)
        top = value(tied[0])
        if top > best_faster:
            front += [a for a in tied if value(a) == top]
            best_faster = top
    return front


@dataclass
class _Finished:
    latency: float
    curve: dict[int, float]


@dataclass
class CostAwarePruning:
    """The pruning rule above, for one driver: completed trials (this run's and those read
    from the database) and the learning curves of the trials in flight.

    The space's pruner decides on the curves in a single-objective study of its own (in
    memory), where Optuna's pruners work as designed.
    """

    pruner: optuna.pruners.BasePruner
    finished: list[_Finished] = field(default_factory=list)
    curves: optuna.Study = field(init=False)
    live: dict[int, optuna.Trial] = field(default_factory=dict)
    reported: dict[int, dict[int, float]] = field(default_factory=dict)  # live curves
    latencies: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.curves = optuna.create_study(direction="maximize", pruner=self.pruner,
                                          sampler=optuna.samplers.RandomSampler(seed=0))

    def observe(self, trial: FrozenTrial) -> None:
        """A finished trial read from the database (an earlier run, another driver)."""
        value = metric_value(trial)
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            return
        curve = dict(trial.intermediate_values)
        if trial.state == TrialState.PRUNED and curve:
            value = curve[max(curve)]
        if value is None:
            return
        self.curves.add_trial(optuna.trial.create_trial(
            state=trial.state, value=value, intermediate_values=curve))
        latency = latency_of(trial)
        if trial.state == TrialState.COMPLETE and latency is not None:
            self.finished.append(_Finished(latency, curve))

    def start(self, key: int) -> None:
        self.live[key] = self.curves.ask()
        self.reported[key] = {}

    def report(self, key: int, epoch: int, value: float, latency: float | None) -> None:
        """Trial ``key`` scored ``value`` at ``epoch`` (``latency``: once measured)."""
        if latency is not None:
            self.latencies[key] = latency
        self.live[key].report(value, epoch)
        self.reported[key][epoch] = value

    def should_prune(self, key: int, epoch: int) -> bool:
        """The rule above, on what trial ``key`` reported at ``epoch``."""
        if not self.live[key].should_prune():
            return False
        value, mine = self.reported[key][epoch], self.latencies.get(key)
        return mine is not None and any(
            done.latency <= mine and done.curve.get(epoch, float("-inf")) >= value
            for done in self.finished)

    def end(self, key: int, state: TrialState, value: float | None,
            latency: float | None) -> None:
        """The trial ended; a complete one joins those later trials are compared with."""
        trial, curve = self.live.pop(key), self.reported.pop(key)
        self.latencies.pop(key, None)
        if state == TrialState.COMPLETE and value is not None:
            self.curves.tell(trial, value)
            if latency is not None:
                self.finished.append(_Finished(latency, curve))
        else:
            self.curves.tell(trial, state=TrialState.PRUNED if state == TrialState.PRUNED
                             else TrialState.FAIL)

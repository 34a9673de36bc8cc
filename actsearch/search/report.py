"""What a search reports when it ends: fANOVA importance, a closing single-seed glance at the
best configuration beside its untuned ReLU twin, and the result."""

from __future__ import annotations

import warnings
from typing import Any

import optuna
import ray
from optuna.trial import FrozenTrial, TrialState

from actsearch.search.baselines import relu_twin
from actsearch.search.options import Progress
from actsearch.search.spaces import SearchSpace
from actsearch.search.workers import WorkerPool
from actsearch.store.studies import count_states, metric_value
from actsearch.train.data import Dataset
from actsearch.train.loop import EpochResult


def best_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The completed trial with the highest value (the earliest on a tie)."""
    complete = [(value, t) for t in trials
                if t.state == TrialState.COMPLETE and (value := metric_value(t)) is not None]
    return max(complete, key=lambda vt: (vt[0], -vt[1].number))[1] if complete else None


def importance(mirror: optuna.Study) -> tuple[dict[str, float], int] | None:
    """fANOVA importance of each parameter (activation per layer vs the rest) and the number
    of completed trials it is computed on; None with fewer than three, or nothing to explain.
    """
    complete = mirror.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 3:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Of the task metric: in a cost-aware study it is the first of two values.
            found = optuna.importance.get_param_importances(
                mirror, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                target=(lambda t: metric_value(t) or 0.0) if len(mirror.directions) > 1
                else None)
    except (ValueError, RuntimeError):  # e.g. every trial the same: nothing to explain
        return None
    return {k: round(float(v), 4) for k, v in found.items()}, len(complete)


def final_glance(pool: WorkerPool, space: SearchSpace, data: Dataset, best: FrozenTrial,
                 epochs: int, seed: int) -> dict[str, dict[str, float]]:
    """Retrain the best configuration and its untuned all-ReLU twin; score both.

    A single-seed glance, not a verdict (``actsearch confirm`` compares against baselines
    searched as hard). The test split is used only here and in confirmations: to report,
    after everything is chosen.
    """
    config = space.suggest_config(optuna.trial.FixedTrial(best.params), data, epochs=epochs,
                                  seed=seed)
    placed = pool.placed_actors()  # the caller checks there is one
    actors = [placed[i % len(placed)] for i in range(2)]
    best_run, relu_run = ray.get([actors[0].evaluate.remote(config),
                                  actors[1].evaluate.remote(relu_twin(config))])
    return {key: {"val": run.val, "test": run.test, "epochs": float(run.epochs)}
            for key, run in (("best", best_run), ("relu", relu_run))}


def telemetry_attrs(result: EpochResult) -> dict[str, Any]:
    """Per-layer telemetry plus flat summaries the dashboard's trial table can sort by."""
    layers = result.telemetry_dicts()
    saturations = [t["saturation"] for t in layers if t["saturation"] is not None]
    return {
        "telemetry": layers,
        "dead_fraction_max": max(t["dead_fraction"] for t in layers),
        "saturation_mean": sum(saturations) / len(saturations) if saturations else None,
        "grad_norm_min": min(t["grad_norm"] for t in layers),
        "train_loss": result.train_loss,
    }


def state_counts(trials: list[FrozenTrial]) -> tuple[int, int, int]:
    """Complete, pruned and failed trials."""
    counts = count_states(trials)
    return counts[TrialState.COMPLETE], counts[TrialState.PRUNED], counts[TrialState.FAIL]


def progress(study: str, target: int, trials: list[FrozenTrial], *, running: int,
             elapsed: float) -> Progress:
    """A live display's snapshot of the mirror's ``trials``, with a naive time left."""
    complete, pruned, failed = state_counts(trials)
    done = complete + pruned
    best = best_trial(trials)
    return Progress(
        study=study, target=target, complete=complete, pruned=pruned, failed=failed,
        running=running, best_value=metric_value(best) if best else None,
        best_activations=list(best.user_attrs.get("activations", [])) if best else [],
        elapsed=elapsed, eta=elapsed / done * max(0, target - done) if done else None)

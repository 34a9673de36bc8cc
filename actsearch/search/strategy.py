"""How a search spends its budget: ``joint`` or ``staged``.

- ``joint``: every trial samples activations, shape and hyperparameters together.
- ``staged``: the first share of the trials keeps ReLU (or, where ReLU is not a candidate,
  the first candidate) in every layer and searches shape and hyperparameters only (a
  tuned-ReLU search); the rest keep the best of those and search the activations only.
  With a small budget, the activation dimensions no longer dilute the search over depth,
  width and learning rate, and the activations are chosen for a network that already
  trains well. The default (see :class:`actsearch.search.spaces.StrategySpec` for the evidence).

Both run inside one Optuna study with the same parameter names (a study cannot change them):
a stage fixes its parameters by enqueueing them, and the sampler fills in the rest.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from optuna.trial import FrozenTrial, TrialState

from actsearch.store.studies import metric_value

Strategy = Literal["joint", "staged"]
MAX_LAYERS = 64  # enqueued names for layers that a trial does not build are ignored


def is_activation_param(name: str) -> bool:
    """``act``, ``act_<i>`` and their conditional parameters (``act_<i>_<param>``)."""
    return name == "act" or name.startswith("act_")


def hyperparameters(params: dict[str, Any]) -> dict[str, Any]:
    """A configuration's parameters other than its activations (shape and training)."""
    return {k: v for k, v in params.items() if not is_activation_param(k)}


def staged_params(trials: list[FrozenTrial], target: int, share: float, per_layer: bool,
                  first: str = "relu") -> dict[str, Any] | None:
    """What the next trial of a staged search fixes, given the study's trials so far.

    Args:
        trials: Every trial of the study (any state): their count says which stage it is.
        target: The study's trial budget.
        share: The share of the budget spent on the first (ReLU) stage.
        per_layer: Whether the space has one activation per layer (``act_<i>``).
        first: The activation of the first stage (one of the space's candidates).

    Returns:
        ``first`` in every layer during the first stage; the best trial's shape and
        hyperparameters afterwards; None when there is no completed trial to build on yet.
    """
    if len(trials) < math.ceil(target * share):
        if per_layer:
            return {f"act_{i}": first for i in range(MAX_LAYERS)}
        return {"act": first}
    complete = [t for t in trials
                if t.state == TrialState.COMPLETE and metric_value(t) is not None]
    if not complete:
        return None
    best = max(complete, key=lambda t: (metric_value(t) or 0.0, -t.number))
    return hyperparameters(best.params)

"""What a user would do instead of a per-layer search, searched as hard.

A recommendation is judged against baselines with the same budget, never against an untuned
network (which makes any search look good):

- ``tuned_relu``: the same space with ReLU in every layer, so the whole budget goes to
  depth, width and the hyperparameters;
- ``uniform``: the same space with one activation shared by all layers (``per_layer:
  false``) over the same candidates.

Each baseline is a study of its own, named ``STUDY--tuned-relu`` / ``STUDY--uniform``, with the
same trial count, epochs, sampler, pruner and seed as the study it is a baseline of. The
untuned twin (the searched network with ReLU swapped in) stays only as a labelled ablation.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from actsearch.search.spaces import ActivationSpace, SearchSpace, StrategySpec
from actsearch.train.loop import TrainConfig

BaselineKind = Literal["tuned_relu", "uniform"]
BASELINES: tuple[BaselineKind, ...] = ("tuned_relu", "uniform")
# From the simplest: on a tie the simpler side is recommended.
SIDES = ("tuned_relu", "uniform", "search")
SUFFIX = {"tuned_relu": "--tuned-relu", "uniform": "--uniform"}


def baseline_study_name(study: str, kind: BaselineKind) -> str:
    return study + SUFFIX[kind]


def baseline_space(space: SearchSpace, kind: BaselineKind) -> SearchSpace:
    """``space`` with its activations fixed to ReLU, or shared by all layers."""
    if kind == "tuned_relu":
        acts = ActivationSpace(candidates=["relu"], per_layer=False)
    else:
        acts = ActivationSpace(candidates=space.activations.candidates,
                               sample=space.activations.sample, per_layer=False,
                               params=space.activations.params)
    # A baseline searches everything at once: staging a ReLU-only or a shared-activation
    # search would only fix its one activation choice for half the budget.
    return space.model_copy(update={"name": f"{space.name}{SUFFIX[kind]}", "activations": acts,
                                    "strategy": StrategySpec(name="joint")})


def needed_baselines(space: SearchSpace) -> list[BaselineKind]:
    """The baselines that differ from ``space`` itself (a ReLU-only space is its own)."""
    choices = space.activations.choices()
    needed: list[BaselineKind] = []
    if choices != ["relu"]:
        needed.append("tuned_relu")
    if space.activations.per_layer and len(choices) > 1:
        needed.append("uniform")
    return needed


def relu_twin(config: TrainConfig) -> TrainConfig:
    """The same network and training with ReLU in every hidden layer (the ablation)."""
    model = replace(config.model, activations=("relu",) * len(config.model.activations),
                    activation_params=())
    return replace(config, model=model)

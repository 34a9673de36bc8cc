"""What a search takes and gives back: its options, the hooks of the layers above, progress
snapshots and the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.storages import RDBStorage

from actsearch import __version__
from actsearch.errors import UsageError
from actsearch.search.spaces import SearchSpace, load_space
from actsearch.search.strategy import Strategy, hyperparameters
from actsearch.settings import Settings
from actsearch.store.studies import LATENCY
from actsearch.train.data import Dataset, load_dataset

MAX_TRIALS_PER_WORKER = 64  # beyond this a pack's batched products stop paying


@dataclass(frozen=True)
class SearchOptions:
    """What ``actsearch search`` takes (see the CLI for each option's meaning)."""

    dataset: str | None = "digits"
    data_path: Path | None = None
    target: str | None = None
    data_dir: Path | None = None
    space: str | SearchSpace = "default"  # a built-in name, a YAML path, or a space itself
    trials: int = 20
    workers: int = 2
    epochs: int | None = None
    storage_url: str | None = None  # None: the configured one
    study: str | None = None
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    trials_per_worker: int = 1
    amp: bool = True
    seed: int = 0
    max_retries: int = 2
    compare_relu: bool = True
    confirm: bool = False
    warm_start: bool = False
    artifacts: bool = True
    confirm_top_k: int = 3
    confirm_seeds: int = 5
    baseline_of: str | None = None  # set on a baseline study: the study it is a baseline of
    baseline_kind: str | None = None  # "tuned_relu" or "uniform"
    strategy: Strategy | None = None  # overrides the space's (joint or staged)
    objectives: tuple[str, ...] | None = None  # overrides the space's: metric[, latency]
    rope: float | None = None  # the verdicts' region of practical equivalence; None: 0.01

    def validate(self) -> None:
        """Raises: UsageError naming the first option out of range."""
        checks = [
            (self.trials >= 1, f"--trials must be at least 1, not {self.trials}"),
            (self.workers >= 1, f"--workers must be at least 1, not {self.workers}"),
            (self.epochs is None or self.epochs >= 1,
             f"--epochs must be at least 1, not {self.epochs}"),
            (self.cpus_per_trial > 0,
             f"--cpus-per-trial must be positive, not {self.cpus_per_trial}"),
            (self.gpus_per_trial >= 0,
             f"--gpus-per-trial must not be negative, not {self.gpus_per_trial}"),
            (1 <= self.trials_per_worker <= MAX_TRIALS_PER_WORKER,
             f"--trials-per-worker must be between 1 and {MAX_TRIALS_PER_WORKER}, "
             f"not {self.trials_per_worker}"),
            (self.rope is None or 0 <= self.rope < 1,
             f"--rope must be at least 0 and below 1, not {self.rope}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)


@dataclass(frozen=True)
class SearchPlan:
    """What the options resolve to: the space, the data and the settings' defaults filled in.
    """

    space: SearchSpace
    data: Dataset
    epochs: int
    storage_url: str
    address: str | None
    study: str
    objectives: tuple[str, ...]  # the task metric, then "latency" for a cost-aware search

    @property
    def cost_aware(self) -> bool:
        return LATENCY in self.objectives

    @classmethod
    def of(cls, options: SearchOptions, settings: Settings,
           data: Dataset | None = None) -> SearchPlan:
        """Raises: UsageError for an option out of range, a space or data that cannot load."""
        options.validate()
        space = (options.space if isinstance(options.space, SearchSpace)
                 else load_space(options.space))
        if options.strategy is not None:
            strategy = space.strategy.model_copy(update={"name": options.strategy})
            space = space.model_copy(update={"strategy": strategy})
        data = data or load_dataset(
            options.dataset if options.data_path is None else None, path=options.data_path,
            target=options.target, data_dir=options.data_dir or settings.data_dir)
        return cls(space=space, data=data,
                   epochs=options.epochs or space.hyperparameters.epochs,
                   storage_url=options.storage_url or settings.storage,
                   address=options.address or settings.ray_address,
                   study=options.study or default_study_name(data, space),
                   objectives=resolve_objectives(options, space, data))


def resolve_objectives(options: SearchOptions, space: SearchSpace,
                       data: Dataset) -> tuple[str, ...]:
    """``--objectives``, else the space's, else the task metric alone.

    Raises:
        UsageError: Anything but the dataset's metric, optionally followed by ``latency``.
    """
    names = tuple(options.objectives or space.objectives or (data.metric,))
    if names not in ((data.metric,), (data.metric, LATENCY)):
        raise UsageError(
            f"--objectives must be the task metric ({data.metric} for {data.name}), "
            f"optionally followed by {LATENCY} (e.g. {data.metric},{LATENCY}); not "
            f"{','.join(names) or 'nothing'}")
    return names


@dataclass(frozen=True)
class WarmStart:
    """A configuration to try first, and the dataset it was best on."""

    params: dict[str, Any]
    source: str


@dataclass(frozen=True)
class SearchHooks:
    """What the layers above a search add to it; a search itself knows no recommendation.

    Attributes:
        warm_start: Asked once, for a new study, with ``--warm-start``: the configurations
            to enqueue first (they must fit the space).
        publish: Called when the best trial improves and when the search ends, with the
            storage and the dataset's name (the service refreshes the recommendation).
    """

    warm_start: Callable[[RDBStorage, Dataset, SearchSpace], list[WarmStart]] | None = None
    publish: Callable[[RDBStorage, str], None] | None = None


@dataclass(frozen=True)
class RunningTrial:
    """A trial in flight, as a live display shows it."""

    number: int
    activations: tuple[str, ...]
    epoch: int  # epochs done
    epochs: int
    value: float | None  # the latest epoch's validation score


@dataclass(frozen=True)
class TrialOutcome:
    """A trial that ended in this run (for a log line per trial where no display is live)."""

    number: int
    state: str  # complete, pruned or failed
    value: float | None
    activations: tuple[str, ...]
    epochs: int
    reason: str | None


@dataclass
class Progress:
    """A snapshot for live displays.

    ``phase`` is what the search is doing: ``opening the study``, ``starting Ray``,
    ``searching``, ``retraining the best and its ReLU twin`` or ``done``.
    """

    study: str
    target: int
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    best_value: float | None = None
    best_activations: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    eta: float | None = None
    phase: str = "searching"
    running_trials: list[RunningTrial] = field(default_factory=list)
    ended: list[TrialOutcome] = field(default_factory=list)  # since the previous snapshot


@dataclass(frozen=True)
class SearchResult:
    """What a search found, and how the chosen configuration scores."""

    study: str
    storage_url: str
    dataset: str
    metric: str
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    activations: list[str]
    complete: int
    pruned: int
    failed: int
    wall_seconds: float
    epochs_trained: int
    epoch_seconds: float
    final: dict[str, dict[str, float]]
    warm_started: tuple[str, ...] = ()  # datasets whose configurations --warm-start enqueued
    ray: str = ""  # how the search reached Ray (joined, started and kept, its own)
    # A cost-aware search's Pareto front: (trial number, score, ms per example), fastest first.
    front: tuple[tuple[int, float, float], ...] = ()

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The best configuration's parameters other than its activations."""
        return hyperparameters(self.best_params)


def default_study_name(data: Dataset, space: SearchSpace) -> str:
    return f"{data.name}-{space.name}"


def study_metadata(data: Dataset, space: SearchSpace, options: SearchOptions,
                   epochs: int, artifacts_dir: Path | None = None) -> dict[str, Any]:
    """What a study records about itself: enough to reload its data and space, and to run
    its baselines with the same budget (and objectives)."""
    path = options.data_path
    return {
        "objectives": list(resolve_objectives(options, space, data)),
        "dataset": data.name, "fingerprint": data.fingerprint, "meta": data.meta,
        "metric": data.metric, "task": data.task, "space": space.name,
        "space_digest": space.digest(), "choices": space.activations.choices(),
        "space_spec": space.model_dump(mode="json"), "epochs": epochs,
        "data_path": str(path.resolve()) if path else None, "target": options.target,
        "seed": options.seed, "baseline_of": options.baseline_of,
        "baseline_kind": options.baseline_kind, "version": __version__, "rope": options.rope,
        "artifacts_dir": str(artifacts_dir) if artifacts_dir else None,
    }

"""Confirmation: retrain the top configurations and their all-ReLU twins over several seeds.

One run per configuration cannot name a winner; this reruns the ``top_k`` best trials of a
study and, for each, the same network with ReLU in every layer (same shape, same
hyperparameters, same budget), with seeds ``0..seeds-1``, on the Ray workers. Scores go to
``actsearch_confirmation_runs``; runs already recorded are not repeated.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import select

from actsearch.artifacts import write_study_note
from actsearch.data import Dataset, load_dataset
from actsearch.errors import UsageError
from actsearch.recommend import refresh_recommendation
from actsearch.settings import get_settings
from actsearch.spaces import SearchSpace, load_space
from actsearch.storage import find_study, open_storage, study_meta
from actsearch.tables import ConfirmationRun, ensure_tables, session_scope
from actsearch.training import TrainConfig
from actsearch.workers import RaySession, WorkerPool


@dataclass(frozen=True)
class ConfirmOptions:
    study: str
    storage: str | None = None
    top_k: int = 3
    seeds: int = 5
    workers: int = 2
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    data_dir: Path | None = None


def study_inputs(meta: dict[str, Any], data_dir: Path | None) -> tuple[Dataset, SearchSpace, int]:
    """The dataset, space and epoch budget a study was searched with, as it recorded them."""
    path = meta.get("data_path")
    data = load_dataset(None if path else meta.get("dataset"), path=path, data_dir=data_dir)
    if meta.get("fingerprint") and data.fingerprint != meta["fingerprint"]:
        raise UsageError(f"dataset {data.name!r} has changed since the study was made "
                         "(its fingerprint differs): confirm against the same data")
    spec = meta.get("space_spec")
    space = SearchSpace.model_validate(spec) if spec else load_space(meta.get("space", "default"))
    return data, space, int(meta.get("epochs") or space.hyperparameters.epochs)


def relu_twin(config: TrainConfig) -> TrainConfig:
    """The same network and training with ReLU in every hidden layer."""
    model = replace(config.model, activations=("relu",) * len(config.model.activations),
                    activation_params=())
    return replace(config, model=model)


def _jobs(trials: list[FrozenTrial], space: SearchSpace, data: Dataset, epochs: int,
          seeds: int, done: set[tuple[int, str, int]]) -> list[tuple[int, str, int, TrainConfig]]:
    jobs = []
    for trial in trials:
        for seed in range(seeds):
            config = space.suggest_config(optuna.trial.FixedTrial(trial.params), data,
                                          epochs=epochs, seed=seed)
            for variant, cfg in (("searched", config), ("relu", relu_twin(config))):
                if (trial.number, variant, seed) not in done:
                    jobs.append((trial.number, variant, seed, cfg))
    return jobs


def confirm_study(options: ConfirmOptions) -> dict[str, Any]:
    """Run the confirmation and refresh the dataset's recommendation.

    Returns:
        The refreshed recommendation, as a dict.
    """
    if options.top_k < 1 or options.seeds < 2:
        raise UsageError("confirmation needs --top-k >= 1 and --seeds >= 2 (a t-test needs two "
                         "seeds per side)")
    settings = get_settings()
    storage = open_storage(options.storage or settings.storage, create=False)
    study_id = find_study(storage, options.study)
    if study_id is None:
        raise UsageError(f"no study named {options.study!r}: see `actsearch studies list`")
    meta = study_meta(storage, study_id)
    data, space, epochs = study_inputs(meta, options.data_dir or settings.data_dir)
    complete = [t for t in storage.get_all_trials(study_id, states=(TrialState.COMPLETE,))
                if t.value is not None]
    if not complete:
        raise UsageError(f"study {options.study!r} has no completed trial to confirm yet")
    top = sorted(complete, key=lambda t: -(t.value or 0.0))[:options.top_k]
    ensure_tables(storage.engine)
    with session_scope(storage.engine) as session:
        done = {(r.trial_number, r.variant, r.seed) for r in session.scalars(
            select(ConfirmationRun).where(ConfirmationRun.study == options.study))}
    jobs = _jobs(top, space, data, epochs, options.seeds, done)
    if jobs:
        _run(jobs, data, options, storage.engine)
    rec = refresh_recommendation(storage, meta.get("dataset") or data.name)
    write_study_note(storage, options.study, rec)
    return rec.to_dict()


def _run(jobs: list[tuple[int, str, int, TrainConfig]], data: Dataset, options: ConfirmOptions,
         engine: Any) -> None:
    session_ray = RaySession(options.address or get_settings().ray_address,
                             options.cpus_per_trial, options.gpus_per_trial, options.workers)
    session_ray.start()
    pool = WorkerPool(ray.put(data), min(options.workers, len(jobs)), options.cpus_per_trial,
                      options.gpus_per_trial)
    try:
        refs = {pool.slots[i % len(pool.slots)].actor.evaluate.remote(cfg): job
                for i, (*job, cfg) in enumerate(jobs)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            number, variant, seed = refs[ready[0]]
            scores = ray.get(ready[0])
            cfg = next(c for n, v, s, c in jobs if (n, v, s) == (number, variant, seed))
            with session_scope(engine) as session:  # each run is kept even if a later one fails
                session.add(ConfirmationRun(
                    study=options.study, trial_number=number, variant=variant, seed=seed,
                    val=scores["val"], test=scores["test"],
                    activations=list(cfg.model.activations)))
    finally:
        pool.shutdown()
        session_ray.stop()

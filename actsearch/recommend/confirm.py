"""Confirmation: the search against its tuned baselines, every side retrained over seeds.

One run per configuration cannot name a winner, and a search compared with an untuned
network always looks good. ``confirm`` therefore

1. runs the study's baselines (:mod:`actsearch.search.baselines`) where they are missing or short of
   the study's trial count: studies of their own, resumable, reused when already there;
2. retrains the ``top_k`` best trials of every side with seeds ``0..seeds-1``;
3. retrains the per-layer best's untuned all-ReLU twin over the same seeds (an ablation);
4. refreshes the dataset's recommendation (:mod:`actsearch.recommend.recommendation`).

Scores go to ``actsearch_confirmation_runs``; runs already recorded are not repeated.
Everything is checked (options, study, data and its fingerprint, Ray) before the first write.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import select

from actsearch.errors import UsageError
from actsearch.recommend.note import write_study_note
from actsearch.recommend.recommendation import (
    Recommendation,
    build_recommendation,
    refresh_recommendation,
)
from actsearch.search.baselines import (
    BaselineKind,
    baseline_space,
    baseline_study_name,
    needed_baselines,
    relu_twin,
)
from actsearch.search.driver import Search
from actsearch.search.options import Progress, SearchOptions
from actsearch.search.spaces import SearchSpace, load_space
from actsearch.search.workers import RaySession, WorkerPool
from actsearch.settings import get_settings
from actsearch.store.database import open_storage
from actsearch.store.studies import (
    find_study,
    metric_value,
    objectives_of,
    require_study,
    study_meta,
)
from actsearch.store.tables import ConfirmationRun, ensure_tables, session_scope
from actsearch.train.data import Dataset, load_dataset
from actsearch.train.loop import Evaluation, TrainConfig


@dataclass(frozen=True)
class ConfirmOptions:
    """What ``actsearch confirm`` takes (see the CLI for each option's meaning)."""

    study: str
    storage_url: str | None = None
    top_k: int = 3
    seeds: int = 5
    workers: int = 2
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    data_dir: Path | None = None
    data_path: Path | None = None  # the study's data file, if it has moved
    target: str | None = None


@dataclass(frozen=True)
class StudyInputs:
    """What a study was searched with, as it recorded it."""

    data: Dataset
    data_path: Path | None
    target: str | None
    space: SearchSpace
    epochs: int
    seed: int
    objectives: tuple[str, ...]  # baselines are searched for the same ones


@dataclass(frozen=True)
class _Job:
    study: str
    trial: int
    variant: str  # "searched" or "relu" (the untuned twin)
    seed: int
    config: TrainConfig


def study_inputs(name: str, meta: dict[str, Any], data_dir: Path | None,
                 data_path: Path | None = None, target: str | None = None) -> StudyInputs:
    """Reload a study's dataset (from its file, or ``data_path`` if it moved) and space.

    Raises:
        UsageError: The data file is gone, or holds other data than the study was searched on.
    """
    recorded = meta.get("data_path")
    path = data_path or (Path(recorded) if recorded else None)
    target = target or meta.get("target")
    if path is not None and not path.is_file():
        raise UsageError(f"the data file of study {name!r} ({str(path)!r}) is gone: pass its "
                         "new place with --data PATH (and --target COLUMN for a CSV)")
    data = load_dataset(None if path else meta.get("dataset"), path=path, target=target,
                        data_dir=data_dir)
    if meta.get("fingerprint") and data.fingerprint != meta["fingerprint"]:
        where = f"file {str(path)!r}" if path else f"dataset {data.name!r}"
        raise UsageError(f"{where} is not the data study {name!r} was searched on (its "
                         "fingerprint differs): pass the same file, or search it as a new study")
    # A moved or renamed file is still the study's dataset.
    data = replace(data, name=str(meta.get("dataset") or data.name))
    spec = meta.get("space_spec")
    space = SearchSpace.from_record(spec) if spec else load_space(meta.get("space", "default"))
    return StudyInputs(data=data, data_path=path, target=target, space=space,
                       epochs=int(meta.get("epochs") or space.hyperparameters.epochs),
                       seed=int(meta.get("seed") or 0),
                       objectives=tuple(objectives_of(meta)))


def confirm_study(options: ConfirmOptions,
                  on_event: Callable[[str], None] | None = None) -> Recommendation:
    """Run the baselines and the confirmation, and refresh the dataset's recommendation."""
    say = on_event or (lambda _: None)
    if options.top_k < 1 or options.seeds < 2:
        raise UsageError("confirmation needs --top-k >= 1 and --seeds >= 2 (a t-test needs two "
                         "seeds per side)")
    settings = get_settings()
    url = options.storage_url or settings.storage
    storage = open_storage(url, create=False)
    study_id = require_study(storage, options.study)
    meta = study_meta(storage, study_id)
    name = options.study
    if meta.get("baseline_of"):  # a baseline study: confirm the search it belongs to
        name = str(meta["baseline_of"])
        parent = find_study(storage, name)
        if parent is None:
            raise UsageError(f"study {options.study!r} is a baseline of {name!r}, which no "
                             "longer exists: confirm a search study")
        study_id, meta = parent, study_meta(storage, parent)
    inputs = study_inputs(name, meta, options.data_dir or settings.data_dir,
                          options.data_path, options.target)
    budget = len(storage.get_all_trials(study_id, deepcopy=False,
                                        states=(TrialState.COMPLETE, TrialState.PRUNED)))
    if not _complete(storage, study_id):
        raise UsageError(f"study {name!r} has no completed trial to confirm yet")
    session = RaySession(options.address or settings.ray_address, options.cpus_per_trial,
                         options.gpus_per_trial, options.workers)
    session.start()
    try:
        sides = [name]
        for kind in needed_baselines(inputs.space):
            sides.append(_run_baseline(options, url, name, kind, inputs, budget, say))
        ensure_tables(storage.engine)
        jobs = [job for side in sides
                for job in retrain_jobs(storage, side, inputs, options.top_k, options.seeds)]
        train_jobs(jobs, inputs.data, options, storage, say)
        # The ablation: the per-layer best with ReLU swapped in, same everything else.
        rec = build_recommendation(storage, inputs.data.name)
        ablation = _twin_jobs(storage, rec, inputs, options.seeds)
        train_jobs(ablation, inputs.data, options, storage, say)
    finally:
        session.stop()
    rec = refresh_recommendation(storage, inputs.data.name)
    write_study_note(storage, name, rec)
    return rec


def _complete(storage: RDBStorage, study_id: int) -> list[FrozenTrial]:
    return sorted((t for t in storage.get_all_trials(study_id, states=(TrialState.COMPLETE,))
                   if metric_value(t) is not None),
                  key=lambda t: (-(metric_value(t) or 0.0), t.number))


def _run_baseline(options: ConfirmOptions, url: str, study: str, kind: BaselineKind,
                  inputs: StudyInputs, budget: int, say: Callable[[str], None]) -> str:
    name = baseline_study_name(study, kind)
    say(f"baseline {name}: {budget} trials, {inputs.epochs} epochs, seed {inputs.seed}")
    search = Search(SearchOptions(
        dataset=None if inputs.data_path else inputs.data.name, data_path=inputs.data_path,
        target=inputs.target, data_dir=options.data_dir,
        space=baseline_space(inputs.space, kind), trials=budget, workers=options.workers,
        epochs=inputs.epochs, storage_url=url, study=name, address=options.address,
        cpus_per_trial=options.cpus_per_trial, gpus_per_trial=options.gpus_per_trial,
        seed=inputs.seed, compare_relu=False, artifacts=False, baseline_of=study,
        baseline_kind=kind, objectives=inputs.objectives), data=inputs.data,
        on_progress=partial(_baseline_progress, say))
    search.run(keep_ray=True)
    return name


def _baseline_progress(say: Callable[[str], None], progress: Progress) -> None:
    """A line per finished baseline trial: a confirmation is never silent for long."""
    done = progress.complete + progress.pruned
    for ended in progress.ended:
        score = "-" if ended.value is None else f"{ended.value:.4f}"
        say(f"  {progress.study} trial {ended.number} {ended.state}: {score} "
            f"({done}/{progress.target})")


def _done(storage: RDBStorage, study: str) -> set[tuple[int, str, int]]:
    with session_scope(storage.engine) as session:
        return {(r.trial_number, r.variant, r.seed) for r in session.scalars(
            select(ConfirmationRun).where(ConfirmationRun.study == study))}


def retrain_jobs(storage: RDBStorage, study: str, inputs: StudyInputs, top_k: int,
                 seeds: int) -> list[_Job]:
    """Retrainings of the ``top_k`` best trials of ``study`` over ``seeds`` not yet run."""
    study_id = find_study(storage, study)
    assert study_id is not None
    space = SearchSpace.from_record(study_meta(storage, study_id)["space_spec"])
    done = _done(storage, study)
    jobs = []
    for trial in _complete(storage, study_id)[:top_k]:
        for seed in range(seeds):
            if (trial.number, "searched", seed) not in done:
                config = space.suggest_config(optuna.trial.FixedTrial(trial.params),
                                              inputs.data, epochs=inputs.epochs, seed=seed)
                jobs.append(_Job(study, trial.number, "searched", seed, config))
    return jobs


def _twin_jobs(storage: RDBStorage, rec: Recommendation, inputs: StudyInputs,
               seeds: int) -> list[_Job]:
    if rec.confirmation is None:  # no per-layer best confirmed against tuned ReLU
        return []
    study, number = str(rec.confirmation.study), int(rec.confirmation.trial or 0)
    study_id = find_study(storage, study)
    assert study_id is not None
    space = SearchSpace.from_record(study_meta(storage, study_id)["space_spec"])
    trial = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
    done = _done(storage, study)
    return [_Job(study, number, "relu", seed, relu_twin(space.suggest_config(
                optuna.trial.FixedTrial(trial.params), inputs.data, epochs=inputs.epochs,
                seed=seed)))
            for seed in range(seeds) if (number, "relu", seed) not in done]


def train_jobs(jobs: list[_Job], data: Dataset, options: ConfirmOptions, storage: RDBStorage,
               say: Callable[[str], None]) -> None:
    """Train each job on a pool of Ray workers and record its scores as it ends."""
    if not jobs:
        return
    say(f"retraining {len(jobs)} configuration-seed pairs")
    pool = WorkerPool(ray.put(data), min(options.workers, len(jobs)), options.cpus_per_trial,
                      options.gpus_per_trial)
    try:
        refs = {pool.slots[i % len(pool.slots)].actor.evaluate.remote(job.config): job
                for i, job in enumerate(jobs)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            job = refs[ready[0]]
            run: Evaluation = ray.get(ready[0])
            variant = "its ReLU twin" if job.variant == "relu" else "retrained"
            say(f"{len(jobs) - len(pending)}/{len(jobs)}: {job.study} trial {job.trial} "
                f"{variant}, seed {job.seed}: test {run.test:.4f}")
            # A diverged run is kept as -inf (SQLite stores NaN as NULL): it is not retried,
            # and its configuration does not count as confirmed.
            val, test = (-math.inf, -math.inf) if run.diverged else (run.val, run.test)
            with session_scope(storage.engine) as session:  # each run is kept as it ends
                session.add(ConfirmationRun(
                    study=job.study, trial_number=job.trial, variant=job.variant,
                    seed=job.seed, val=val, test=test,
                    activations=list(job.config.model.activations),
                    test_outcomes=list(run.test_outcomes) or None))
    finally:
        pool.shutdown()

"""The search driver: one Optuna study, trials trained on Ray workers, pruning across workers.

The driver is the only process that writes the study. It samples and prunes on an in-memory
mirror of the study (Optuna's decisions then cost microseconds instead of a database round
trip each) and writes every trial through to the database as it starts, after each epoch, and
when it ends. Each worker always has its next epoch queued, so it never waits for the driver;
a pruned trial therefore stops within one epoch and its worker takes the next trial.

Resuming is re-running: trials a dead driver left RUNNING are failed and their configurations
re-queued, as are those of workers that died; the study stops when the requested number of
trials have finished (completed or pruned). Every storage call waits out a database outage
(:class:`actsearch.storage.Patient`), so a restarted server pauses the search, not ends it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from ray.exceptions import RayActorError, RayTaskError

from actsearch import __version__, metrics
from actsearch.artifacts import artifact_store, write_study_note
from actsearch.baselines import relu_twin
from actsearch.data import Dataset, load_dataset
from actsearch.errors import SearchFailedError, SearchInterruptedError, UsageError
from actsearch.knowledge import KnowledgeEntry
from actsearch.metrics import serve_metrics
from actsearch.recommend import refresh_recommendation
from actsearch.recorder import EndedTrial, TrialRecorder
from actsearch.settings import get_settings
from actsearch.spaces import SearchSpace, load_space
from actsearch.storage import (
    HEARTBEAT_SECONDS,
    Patient,
    create_or_load_study,
    driver_identity,
    open_storage,
    pending_retries,
    recover_orphans,
    trial_slot,
)
from actsearch.strategy import Strategy, staged_params
from actsearch.training import EpochResult, TrainConfig
from actsearch.workers import RaySession, Slot, WorkerPool

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
FAILURES_TO_STOP = 3  # trials failing the same way, none finishing, before a search gives up
REFRESH_SECONDS = 10.0
optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchOptions:
    """What ``actsearch search`` takes (see the CLI for each option's meaning)."""

    dataset: str | None = "digits"
    data_path: Path | None = None
    target: str | None = None
    data_dir: Path | None = None
    space: str | SearchSpace = "default"  # a shipped name, a YAML path, or a space itself
    trials: int = 20
    workers: int = 2
    epochs: int | None = None
    storage: str | None = None
    study: str | None = None
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
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
    # Where --warm-start looks besides the storage (None: the shipped knowledge base).
    knowledge: tuple[KnowledgeEntry, ...] | None = None


@dataclass
class Progress:
    """A snapshot for live displays."""

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


@dataclass(frozen=True)
class SearchResult:
    """What a search found, and how the chosen configuration scores."""

    study: str
    storage: str
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


@dataclass(frozen=True)
class Retry:
    """A failed trial's configuration, to run again."""

    params: dict[str, Any]
    number: int
    attempt: int


@dataclass
class _Live:
    """A trial in flight: its mirror trial, database id, configuration and worker."""

    trial: optuna.Trial
    trial_id: int
    number: int
    config: TrainConfig
    slot: Slot
    epochs_done: int = 0
    submitted: int = 0
    last: EpochResult | None = None
    telemetry: EpochResult | None = None  # the latest epoch that carried telemetry
    attempt: int = 1


def _validate(options: SearchOptions) -> None:
    checks = [
        (options.trials >= 1, f"--trials must be at least 1, not {options.trials}"),
        (options.workers >= 1, f"--workers must be at least 1, not {options.workers}"),
        (options.epochs is None or options.epochs >= 1,
         f"--epochs must be at least 1, not {options.epochs}"),
        (options.cpus_per_trial > 0, f"--cpus-per-trial must be positive, not "
                                     f"{options.cpus_per_trial}"),
        (options.gpus_per_trial >= 0, f"--gpus-per-trial must not be negative, not "
                                      f"{options.gpus_per_trial}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)


def default_study_name(data: Dataset, space: SearchSpace) -> str:
    return f"{data.name}-{space.name}"


def study_metadata(data: Dataset, space: SearchSpace, options: SearchOptions,
                   epochs: int) -> dict[str, Any]:
    """What a study records about itself: enough to reload its data and space, and to run
    its baselines with the same budget."""
    path = options.data_path
    return {
        "dataset": data.name, "fingerprint": data.fingerprint, "meta": data.meta,
        "metric": data.metric, "task": data.task, "space": space.name,
        "space_digest": space.digest(), "choices": space.activations.choices(),
        "space_spec": space.model_dump(mode="json"), "epochs": epochs,
        "data_path": str(path.resolve()) if path else None, "target": options.target,
        "seed": options.seed, "baseline_of": options.baseline_of,
        "baseline_kind": options.baseline_kind, "version": __version__,
    }


class Search:
    """Runs one search; see the module docstring for the design."""

    def __init__(self, options: SearchOptions,
                 on_progress: Callable[[Progress], None] | None = None,
                 data: Dataset | None = None) -> None:
        _validate(options)
        settings = get_settings()
        self.options = options
        self.on_progress = on_progress or (lambda _: None)
        # Inputs are checked before anything touches the database or starts Ray.
        space = (options.space if isinstance(options.space, SearchSpace)
                 else load_space(options.space))
        if options.strategy is not None:
            strategy = space.strategy.model_copy(update={"name": options.strategy})
            space = space.model_copy(update={"strategy": strategy})
        self.space = space
        self.data = data or load_dataset(
            options.dataset if options.data_path is None else None, path=options.data_path,
            target=options.target, data_dir=options.data_dir or settings.data_dir)
        self.epochs = options.epochs or self.space.hyperparameters.epochs
        self.url = options.storage or settings.storage
        self.address = options.address or settings.ray_address
        self.name = options.study or default_study_name(self.data, self.space)
        self.artifacts_dir = settings.artifacts_dir
        self.metrics_port = settings.metrics_port
        self.identity = driver_identity()
        self.live: dict[int, _Live] = {}
        self.own_ids: set[int] = set()  # every trial this driver created (other drivers': not)
        # Per trial, its queued epochs in order: only the oldest is waited on, so results are
        # handled in epoch order even when two are ready at once.
        self.queues: dict[int, deque[Any]] = {}
        self.best_value: float | None = None
        self.recorder: TrialRecorder | None = None
        self.epochs_trained = 0
        self.epoch_seconds: dict[int, float] = {}
        self.pool: WorkerPool | None = None
        self.warm_started: list[str] = []  # datasets whose configurations were enqueued
        self.errors: Counter[str] = Counter()  # trial errors of this run, by reason
        self.finished_here = 0  # trials this run completed or pruned
        self.stopping = threading.Event()  # set by Ctrl-C or SIGTERM
        # Storage calls wait out a database restart (see storage.Patient).
        self.patient = Patient(self.url, settings.storage_patience_seconds,
                               on_wait=log.warning, give_up=self.stopping)

    # --- Setup ------------------------------------------------------------------------
    def _open(self) -> None:
        self.storage: RDBStorage = open_storage(self.url)
        meta = study_metadata(self.data, self.space, self.options, self.epochs)
        self.study_id = create_or_load_study(self.storage, self.name, meta)
        recover_orphans(self.storage, self.name)
        self.mirror = optuna.create_study(
            direction="maximize", sampler=self.space.make_sampler(self.options.seed),
            pruner=self.space.make_pruner(),
        )
        self.mirrored: set[int] = set()
        self.others_running = 0
        self._refresh()
        everything = self.storage.get_all_trials(self.study_id, deepcopy=False)
        self.retries = [Retry(dict(t.params), t.number, int(t.user_attrs.get("attempt", 1)))
                        for t in pending_retries(everything, self.options.max_retries)]
        if self.options.warm_start and not everything:  # only when the study is new
            self._warm_start()

    def _warm_start(self, wanted: int = 3) -> None:
        """Enqueue the best configurations of the most similar known datasets, nearest first,
        skipping those that do not fit this space, until ``wanted`` are enqueued.

        Known: the studies in this storage and the shipped knowledge base.
        """
        from actsearch.knowledge import fits, params_for_space
        from actsearch.similar import similar_datasets

        for similar in similar_datasets(self.storage, self.data.meta, k=50,
                                        exclude={self.data.name},
                                        knowledge=self.options.knowledge):
            rec = similar.recommendation
            params = params_for_space(rec.params, len(rec.activations), self.space)
            if fits(self.space, params, self.data):
                self.mirror.enqueue_trial(params,
                                          user_attrs={"warm_start_from": similar.dataset})
                self.warm_started.append(similar.dataset)
                if len(self.warm_started) == wanted:
                    return

    def _refresh(self) -> None:
        """Copy finished trials of the database (earlier runs, other drivers) into the mirror."""
        trials = self.patient(self.storage.get_all_trials, self.study_id, deepcopy=False)
        self.others_running = sum(1 for t in trials if t.state == TrialState.RUNNING
                                  and t._trial_id not in self.own_ids)
        for t in trials:
            if t.state in FINISHED and t._trial_id not in self.mirrored:
                self.mirror.add_trial(t)
                self.mirrored.add(t._trial_id)
        self.last_refresh = time.monotonic()

    def finished(self) -> int:
        return sum(1 for t in self.mirror.get_trials(deepcopy=False) if t.state in FINISHED)

    # --- Trials -----------------------------------------------------------------------
    def _launch(self, slot: Slot) -> _Live:
        attrs: dict[str, Any] = {}
        attempt = 1
        if self.retries:
            failed = self.retries.pop(0)
            attempt = failed.attempt + 1
            attrs = {"retry_of": failed.number}
            self.mirror.enqueue_trial(failed.params, skip_if_exists=False)
        else:
            self._enqueue_stage()
        trial = self.mirror.ask()
        config = self.space.suggest_config(trial, self.data, epochs=self.epochs,
                                           seed=self.options.seed + trial.number)
        trial.set_user_attr("activations", list(config.model.activations))  # for progress
        frozen = optuna.trial.create_trial(
            state=TrialState.RUNNING, params=trial.params,
            distributions=dict(trial.distributions), user_attrs={
                **trial.user_attrs, **attrs, "attempt": attempt, "driver": self.identity,
                "node": slot.node,
                "activations": list(config.model.activations),
                "hidden": list(config.model.hidden),
            })
        trial_id = self.patient(self.storage.create_new_trial, self.study_id,
                                template_trial=frozen)
        number = self.patient(self.storage.get_trial_number_from_id, trial_id)
        self.mirrored.add(trial_id)
        self.own_ids.add(trial_id)
        key = trial_id
        slot.actor.start.remote(key, config)
        live = _Live(trial=trial, trial_id=trial_id, number=number, config=config, slot=slot,
                     attempt=attempt)
        metrics.TRIALS_STARTED.labels(self.name).inc()
        self.live[key] = live
        for _ in range(min(2, self.epochs)):  # keep the next epoch queued behind the current
            self._submit_epoch(key)
        return live

    def _enqueue_stage(self) -> None:
        """A staged search fixes the parameters of its current stage (the sampler fills in
        the rest); enqueued configurations (warm start) go first."""
        strategy = self.space.strategy
        trials = self.mirror.get_trials(deepcopy=False)
        if strategy.name != "staged" or any(t.state == TrialState.WAITING for t in trials):
            return
        choices = self.space.activations.choices()
        fixed = staged_params(trials, self.options.trials, strategy.relu_share,
                              self.space.activations.per_layer,
                              first="relu" if "relu" in choices else choices[0])
        if fixed:
            self.mirror.enqueue_trial(fixed, skip_if_exists=False)

    def _submit_epoch(self, key: int) -> None:
        live = self.live[key]
        live.submitted += 1
        self.queues.setdefault(key, deque()).append(live.slot.actor.epoch.remote(key))

    def _end(self, key: int, state: TrialState, reason: str | None = None, *,
             retry: bool = True) -> None:
        """Tell the mirror now; the database writes wait until the freed worker has work.

        A failed trial's configuration is re-queued (up to ``max_retries``) unless ``retry``
        is false: an error raised by the trial itself would only happen again.
        """
        live = self.live.pop(key)
        if state in FINISHED:
            self.finished_here += 1
        last = live.last
        value = None if last is None or math.isnan(last.value) else last.value
        # Its queued epoch runs out on the worker and is dropped (at most one epoch).
        self.queues.pop(key, None)
        self.mirror.tell(live.trial, value if state == TrialState.COMPLETE else None, state=state)
        improved = False
        if state == TrialState.COMPLETE and value is not None and (
                self.best_value is None or value > self.best_value):
            improved, self.best_value = True, value
            metrics.BEST_VALUE.labels(self.name).set(value)
        metrics.TRIALS_FINISHED.labels(self.name, state.name.lower()).inc()
        metrics.TRIAL_SECONDS.labels(self.name).observe(self.epoch_seconds.get(key, 0.0))
        attrs: dict[str, Any] = {"epochs": live.epochs_done,
                                 "seconds": self.epoch_seconds.get(key, 0.0)}
        if reason:
            attrs["stop_reason" if state != TrialState.FAIL else "fail_reason"] = reason
        if live.telemetry is not None:
            attrs.update(_telemetry_attrs(live.telemetry))
        values = [value] if value is not None and state != TrialState.FAIL else None
        if retry and state == TrialState.FAIL and live.attempt <= self.options.max_retries:
            self.retries.append(Retry(dict(live.trial.params), live.number, live.attempt))
        assert self.recorder is not None
        self.recorder.put(EndedTrial(live.trial_id, state, values, attrs,
                                     list(live.config.model.activations), improved))

    def _on_epoch(self, key: int, result: EpochResult | None) -> None:
        live = self.live.get(key)
        if live is None or result is None:
            return  # an epoch of a trial that was already pruned: discard
        live.epochs_done = result.epoch
        live.last = result
        if result.telemetry:
            live.telemetry = result
        self.epochs_trained += 1
        metrics.EPOCHS.labels(self.name).inc()
        self.epoch_seconds[key] = self.epoch_seconds.get(key, 0.0) + result.seconds
        if result.diverged:
            self._end(key, TrialState.PRUNED, f"diverged: loss or metric became nan/inf at "
                                              f"epoch {result.epoch}")
            return
        live.trial.report(result.value, result.epoch)
        try:
            self.patient(self.storage.set_trial_intermediate_value, live.trial_id, result.epoch,
                         result.value)
        except optuna.exceptions.UpdateFinishedTrialError:
            self._ended_elsewhere(key)
            return
        if result.epoch >= self.epochs:
            self._end(key, TrialState.COMPLETE)
        elif live.trial.should_prune():
            self._end(key, TrialState.PRUNED, f"pruned after epoch {result.epoch}")
        elif live.submitted < self.epochs:
            self._submit_epoch(key)

    def _ended_elsewhere(self, key: int) -> None:
        """Another driver failed this trial while this one could not reach the database (its
        heartbeat went stale) and re-queued its configuration: drop it here, writing nothing."""
        live = self.live.pop(key)
        self.queues.pop(key, None)
        self.mirror.tell(live.trial, None, state=TrialState.FAIL)
        log.warning("trial %d was ended by another driver during a database outage; its "
                    "configuration is re-queued there", live.number)

    def _on_worker_death(self, key: int, error: Exception) -> None:
        live = self.live.get(key)
        if live is None:
            return
        slot = live.slot
        self._end(key, TrialState.FAIL, f"worker died: {type(error).__name__}")
        assert self.pool is not None
        self.pool.replace(slot)

    def _interrupted(self) -> SearchInterruptedError:
        """End the live trials as interrupted (a resumed search re-runs them)."""
        for key in list(self.live):
            self._end(key, TrialState.FAIL, "interrupted")
        return SearchInterruptedError(
            f"interrupted: {self.finished()} of {self.options.trials} trials of study "
            f"{self.name!r} finished; re-run the same command to resume")

    def _on_trial_error(self, key: int, error: RayTaskError) -> None:
        """End the trial FAILED with its error; stop the search if every trial fails so."""
        cause = getattr(error, "cause", None) or error
        lines = str(cause).strip().splitlines() or [""]
        reason = f"{type(cause).__name__}: {lines[0]}"[:300]
        if key in self.live:
            self._end(key, TrialState.FAIL, f"error: {reason}", retry=False)
        self.errors[reason] += 1
        if self.errors[reason] >= FAILURES_TO_STOP and self.finished_here == 0:
            for other in list(self.live):
                self._end(other, TrialState.FAIL, "search stopped: every trial failed")
            raise SearchFailedError(f"search {self.name!r} stopped: its first "
                               f"{self.errors[reason]} trials all failed with {reason}")

    # --- Main loop --------------------------------------------------------------------
    def run(self, keep_ray: bool = False) -> SearchResult:
        """Search, then report; stops the Ray it started unless ``keep_ray``."""
        start = time.perf_counter()
        ray_session = self.ray_session = RaySession(
            self.address, self.options.cpus_per_trial, self.options.gpus_per_trial,
            self.options.workers)
        try:
            self._open()
            searching = self.finished() < self.options.trials
            if searching or self.options.compare_relu:
                ray_session.start()
                self.pool = WorkerPool(ray.put(self.data), self.options.workers,
                                       self.options.cpus_per_trial, self.options.gpus_per_trial)
            if searching:
                serve_metrics(self.metrics_port)
                store = artifact_store(self.artifacts_dir) if self.options.artifacts else None
                self.recorder = TrialRecorder(self.storage, self.data.name, store, self.patient)
                try:
                    with _stop_on_signals(self):
                        self._loop(start)
                except KeyboardInterrupt:
                    raise self._interrupted() from None
                finally:
                    self.recorder.close()
            final = self._final() if self.options.compare_relu else {}
            self._importance()
            if self._best_trial() is not None:
                self.patient(self._publish)
            return self._result(start, final)
        finally:
            if self.pool is not None:
                self.pool.shutdown()
            if not keep_ray:
                ray_session.stop()

    def _publish(self) -> None:
        """Store the dataset's recommendation and the study's note (both idempotent)."""
        rec = refresh_recommendation(self.storage, self.data.name)
        write_study_note(self.storage, rec.study, rec)

    def _importance(self) -> None:
        """fANOVA importance of each parameter (activation per layer vs the rest), stored."""
        complete = self.mirror.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(complete) < 3:
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importance = optuna.importance.get_param_importances(
                    self.mirror, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        except (ValueError, RuntimeError):  # e.g. every trial the same: nothing to explain
            return
        self.patient(self.storage.set_study_user_attr, self.study_id, "importance",
                     {k: round(float(v), 4) for k, v in importance.items()})
        self.patient(self.storage.set_study_user_attr, self.study_id, "importance_trials",
                     len(complete))

    def _loop(self, start: float) -> None:
        assert self.pool is not None
        last_beat = time.monotonic()
        while True:
            if self.stopping.is_set():
                raise KeyboardInterrupt
            finished = self.finished()  # launching changes neither count below
            for slot in self.pool.slots:
                busy = {live.slot.actor for live in self.live.values()}
                wanted = finished + len(self.live) + self.others_running
                if slot.actor not in busy and wanted < self.options.trials:
                    # The mirror's count of other drivers' trials may be seconds old: the
                    # database decides, so drivers sharing a study never overshoot it.
                    assert self.recorder is not None
                    with trial_slot(self.storage, self.study_id, self.options.trials,
                                    self.recorder.unwritten_failures, self.patient) as room:
                        if room:
                            self._launch(slot)
            heads = {queue[0]: key for key, queue in self.queues.items() if queue}
            if not heads:
                break
            ready, _ = ray.wait(list(heads), num_returns=1, timeout=1.0)
            for ref in ready:
                key = heads[ref]
                self.queues[key].popleft()
                try:
                    result = ray.get(ref)
                except RayActorError as exc:
                    self._on_worker_death(key, exc)
                    continue
                except RayTaskError as exc:  # the trial's set-up or epoch raised
                    self._on_trial_error(key, exc)
                    continue
                self._on_epoch(key, result)
            metrics.WORKERS.labels(self.name).set(len(self.pool.slots))
            metrics.WORKERS_BUSY.labels(self.name).set(len(self.live))
            now = time.monotonic()
            if now - last_beat > HEARTBEAT_SECONDS / 2:
                for live in self.live.values():
                    self.patient(self.storage.record_heartbeat, live.trial_id)
                last_beat = now
            if now - self.last_refresh > REFRESH_SECONDS:
                self._refresh()
            self.on_progress(self.progress(start))

    def progress(self, start: float) -> Progress:
        trials = self.mirror.get_trials(deepcopy=False)
        counts = {s: sum(1 for t in trials if t.state == s) for s in TrialState}
        own_failed = sum(1 for t in trials if t.state == TrialState.FAIL)
        done = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        elapsed = time.perf_counter() - start
        eta = None
        if done:
            eta = elapsed / done * max(0, self.options.trials - done)
        best = _best(trials)
        return Progress(
            study=self.name, target=self.options.trials, complete=counts[TrialState.COMPLETE],
            pruned=counts[TrialState.PRUNED], failed=own_failed, running=len(self.live),
            best_value=best.value if best else None,
            best_activations=list(best.user_attrs.get("activations", [])) if best else [],
            elapsed=elapsed, eta=eta,
        )

    # --- Final report -----------------------------------------------------------------
    def _best_trial(self) -> FrozenTrial | None:
        return _best(self.patient(self.storage.get_all_trials, self.study_id, deepcopy=False))

    def _final(self) -> dict[str, dict[str, float]]:
        """Retrain the best configuration and its untuned all-ReLU twin; score both.

        A single-seed glance, not a verdict (``actsearch confirm`` compares against baselines
        searched as hard). The test split is used only here and in confirmations: to report,
        after everything is chosen.
        """
        best = self._best_trial()
        if best is None or self.pool is None:
            return {}
        config = self.space.suggest_config(optuna.trial.FixedTrial(best.params), self.data,
                                           epochs=self.epochs, seed=self.options.seed)
        relu = relu_twin(config)
        actors = [self.pool.slots[i % len(self.pool.slots)].actor for i in range(2)]
        best_run, relu_run = ray.get([actors[0].evaluate.remote(config),
                                      actors[1].evaluate.remote(relu)])
        final = {key: {"val": run.val, "test": run.test, "epochs": float(run.epochs)}
                 for key, run in (("best", best_run), ("relu", relu_run))}
        self.patient(self.storage.set_study_user_attr, self.study_id, "final", final)
        return final

    def _result(self, start: float, final: dict[str, dict[str, float]]) -> SearchResult:
        trials = self.patient(self.storage.get_all_trials, self.study_id, deepcopy=False)
        best = _best(trials)
        counts = {s: sum(1 for t in trials if t.state == s) for s in TrialState}
        return SearchResult(
            study=self.name, storage=self.url, dataset=self.data.name, metric=self.data.metric,
            best_number=best.number if best else None, best_value=best.value if best else None,
            best_params=dict(best.params) if best else {},
            activations=list(best.user_attrs.get("activations", [])) if best else [],
            complete=counts[TrialState.COMPLETE], pruned=counts[TrialState.PRUNED],
            failed=counts[TrialState.FAIL], wall_seconds=time.perf_counter() - start,
            epochs_trained=self.epochs_trained, epoch_seconds=sum(self.epoch_seconds.values()),
            final=final, warm_started=tuple(self.warm_started),
        )


@contextlib.contextmanager
def _stop_on_signals(search: Search) -> Iterator[None]:
    """Ctrl-C and SIGTERM (a scheduler, `docker stop`) ask the search loop to stop between two
    steps, so no trial is half-written; a second signal stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def request_stop(_signum: int, _frame: Any) -> None:
        if search.stopping.is_set():
            raise KeyboardInterrupt
        search.stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _best(trials: list[FrozenTrial]) -> FrozenTrial | None:
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def _telemetry_attrs(result: EpochResult) -> dict[str, Any]:
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


def run_search(options: SearchOptions,
               on_progress: Callable[[Progress], None] | None = None) -> SearchResult:
    """Run (or resume) a search, and confirm its top trials if asked; see :class:`Search`."""
    search = Search(options, on_progress)
    result = search.run(keep_ray=options.confirm)
    if options.confirm:
        from actsearch.confirm import ConfirmOptions, confirm_study

        try:
            confirm_study(ConfirmOptions(
                study=result.study, storage=search.url, top_k=options.confirm_top_k,
                seeds=options.confirm_seeds, workers=options.workers, address=search.address,
                cpus_per_trial=options.cpus_per_trial, gpus_per_trial=options.gpus_per_trial,
                data_dir=options.data_dir))
        finally:
            search.ray_session.stop()
    return result


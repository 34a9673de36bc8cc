"""The search driver: one Optuna study, trials trained on Ray workers, pruning across workers.

The driver is the only process that writes the study. It decides on an in-memory mirror of
the study (:class:`~actsearch.search.session.StudySession`) and writes every trial through to
the database as it starts, after each epoch, and when it ends (the recorder). Each worker
always has its next epoch queued, so it never waits for the driver; a pruned trial therefore
stops within one epoch and its worker takes the next trial. A worker trains up to
``trials_per_worker`` trials at once (one call trains an epoch of each), so the driver asks the
sampler for several trials before it hears back from any.

Resuming is re-running: trials a dead driver left RUNNING are failed and their configurations
re-queued, as are those of workers that died; the study stops when the requested number of
trials have finished (completed or pruned). Every storage call waits out a database outage
(:class:`~actsearch.store.patience.Patient`), so a restarted server pauses the search.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import optuna
import ray
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from ray.exceptions import RayActorError, RayTaskError

from actsearch.errors import SearchFailedError, SearchInterruptedError
from actsearch.search import metrics, report
from actsearch.search.metrics import serve_metrics
from actsearch.search.options import (
    Progress,
    RunningTrial,
    SearchHooks,
    SearchOptions,
    SearchPlan,
    SearchResult,
    TrialOutcome,
    study_metadata,
)
from actsearch.search.pareto import CostAwarePruning, pareto_front
from actsearch.search.recorder import EndedTrial, TrialRecorder
from actsearch.search.session import FINISHED, Retry, StudySession
from actsearch.search.strategy import staged_params
from actsearch.search.workers import EpochResults, RaySession, Slot, TrialError, WorkerPool
from actsearch.settings import get_settings
from actsearch.store.database import HEARTBEAT_SECONDS, open_storage
from actsearch.store.patience import Patient
from actsearch.store.studies import metric_value
from actsearch.train.data import Dataset
from actsearch.train.loop import EpochResult, TrainConfig

EPOCHS_IN_FLIGHT = 2  # per worker: the one training, and the next queued behind it
# Trials failing the same way, while none finished or trained an epoch, before a search
# gives up.
FAILURES_TO_STOP = 3
REFRESH_SECONDS = 10.0
SEARCHING = "searching"
# Every worker left is idle and the others wait for a node with room (one was lost).
WAITING_FOR_ROOM = "waiting for a Ray node with room for a worker"
optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger(__name__)


@dataclass
class _Live:
    """A trial in flight: its mirror trial, database id, configuration and worker.

    ``worker`` is the worker's place in the pool (a dead worker's replacement takes it).
    ``submitted`` counts the epoch calls sent to the worker since the trial joined it.
    """

    trial: optuna.Trial
    trial_id: int
    number: int
    config: TrainConfig
    worker: int
    epochs_done: int = 0
    submitted: int = 0
    last: EpochResult | None = None
    latency: float | None = None  # ms per example, once measured (cost-aware searches)
    telemetry: EpochResult | None = None  # the latest epoch that carried telemetry
    attempt: int = 1


class Search:
    """Runs one search; see the module docstring for the design."""

    def __init__(self, options: SearchOptions,
                 on_progress: Callable[[Progress], None] | None = None,
                 data: Dataset | None = None, hooks: SearchHooks | None = None) -> None:
        settings = get_settings()
        # Inputs are checked before anything touches the database or starts Ray.
        plan = SearchPlan.of(options, settings, data)
        self.options = options
        self.on_progress = on_progress or (lambda _: None)
        self.hooks = hooks or SearchHooks()
        self.space, self.data, self.epochs = plan.space, plan.data, plan.epochs
        self.storage_url, self.address, self.name = plan.storage_url, plan.address, plan.study
        # Absolute, and recorded with the study: the dashboard finds it from any directory.
        self.artifacts_dir = settings.artifacts_dir.resolve()
        self.metrics_port = settings.metrics_port
        self.live: dict[int, _Live] = {}
        # The in-memory study the driver decides on; the session fills it from the database.
        # A cost-aware one has two objectives, and prunes by its own rule (search.pareto).
        self.cost_aware = plan.cost_aware
        self.mirror = optuna.create_study(
            directions=["maximize", "minimize"] if self.cost_aware else ["maximize"],
            sampler=self.space.make_sampler(options.seed), pruner=self.space.make_pruner())
        self.pareto = CostAwarePruning(self.space.make_pruner()) if self.cost_aware else None
        self.ended: list[TrialOutcome] = []  # since the last progress snapshot
        self.phase = "opening the study"
        self.started = time.perf_counter()
        # Per worker, its queued epoch calls in order: only the oldest is waited on, so
        # results are handled in epoch order even when two are ready at once.
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
        # Storage calls wait out a database restart (see store.patience).
        self.patient = Patient(self.storage_url, settings.storage_patience_seconds,
                               on_wait=log.warning, give_up=self.stopping)

    # --- Setup ------------------------------------------------------------------------
    def _open(self) -> None:
        self.storage: RDBStorage = open_storage(self.storage_url)
        self.session = StudySession(
            self.storage, self.name, study_metadata(
                self.data, self.space, self.options, self.epochs,
                self.artifacts_dir if self.options.artifacts else None),
            self.mirror, self.patient, self.options.max_retries,
            on_mirror=self.pareto.observe if self.pareto is not None else None)
        if self.options.warm_start and self.session.is_new and self.hooks.warm_start:
            for start in self.hooks.warm_start(self.storage, self.data, self.space):
                self.mirror.enqueue_trial(start.params,
                                          user_attrs={"warm_start_from": start.source})
                self.warm_started.append(start.source)

    def finished(self) -> int:
        return self.session.finished()

    # --- Trials -----------------------------------------------------------------------
    def _launch(self, worker: int) -> _Live:
        attrs: dict[str, Any] = {}
        attempt = 1
        if self.session.retries:
            failed = self.session.retries.pop(0)
            attempt = failed.attempt + 1
            attrs = {"retry_of": failed.number}
            self.mirror.enqueue_trial(failed.params, skip_if_exists=False)
        else:
            self._enqueue_stage()
        trial = self.mirror.ask()
        config = dataclasses.replace(
            self.space.suggest_config(trial, self.data, epochs=self.epochs,
                                      seed=self.options.seed + trial.number),
            amp=self.options.amp, early_cost=self.cost_aware)
        trial.set_user_attr("activations", list(config.model.activations))  # for progress
        slot = self._slot(worker)
        trial_id, number = self.session.create_trial(trial, {
            **attrs, "attempt": attempt, "node": slot.node,
            "activations": list(config.model.activations), "hidden": list(config.model.hidden)})
        key = trial_id
        slot.actor.start.remote(key, config)
        live = _Live(trial=trial, trial_id=trial_id, number=number, config=config,
                     worker=worker, attempt=attempt)
        metrics.TRIALS_STARTED.labels(self.name).inc()
        self.live[key] = live
        if self.pareto is not None:
            self.pareto.start(key)
        return live

    def _slot(self, worker: int) -> Slot:
        assert self.pool is not None
        return self.pool.slots[worker]

    def _on_worker(self, worker: int) -> list[_Live]:
        return [live for live in self.live.values() if live.worker == worker]

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

    def _keep_busy(self, worker: int) -> None:
        """Queue the worker's next epoch while one of its trials still needs it, so it never
        waits for the driver (at most ``EPOCHS_IN_FLIGHT`` calls)."""
        queue = self.queues.setdefault(worker, deque())
        trials = self._on_worker(worker)
        while len(queue) < EPOCHS_IN_FLIGHT and any(t.submitted < self.epochs for t in trials):
            queue.append(self._slot(worker).actor.epoch.remote())
            for live in trials:
                live.submitted += 1

    def _end(self, key: int, state: TrialState, reason: str | None = None, *,
             retry: bool = True, worker_alive: bool = True) -> None:
        """Tell the mirror now; the database writes wait until the freed worker has work.

        A failed trial's configuration is re-queued (up to ``max_retries``) unless ``retry``
        is false: an error raised by the trial itself would only happen again.
        """
        live = self.live.pop(key)
        last = live.last
        value = None if last is None or math.isnan(last.value) else last.value
        latency = (last.cost.latency_ms if last is not None and last.cost is not None
                   else live.latency)
        if state == TrialState.COMPLETE and self.cost_aware and latency is None:
            state, reason = TrialState.FAIL, "no latency was measured for the trained network"
        if state in FINISHED:
            self.finished_here += 1
        if worker_alive and live.epochs_done < self.epochs:
            # At most its already queued epoch still trains it; the result is discarded.
            self._slot(live.worker).actor.drop.remote(key)
        objectives: list[float] | None = None
        if state == TrialState.COMPLETE and value is not None:
            objectives = [value] if latency is None or not self.cost_aware else [value, latency]
        self.mirror.tell(live.trial, objectives, state=state)
        if self.pareto is not None:
            self.pareto.end(key, state, value, latency)
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
            attrs.update(report.telemetry_attrs(live.telemetry))
        if state == TrialState.COMPLETE and last is not None and last.cost is not None:
            attrs["cost"] = last.cost.as_dict()
        # A pruned trial keeps its last score as its value, as Optuna's tell does; a pruned
        # trial of a cost-aware study has none (Optuna's tell gives it none either).
        values = objectives
        if state == TrialState.PRUNED and value is not None and not self.cost_aware:
            values = [value]
        if retry and state == TrialState.FAIL and live.attempt <= self.options.max_retries:
            self.session.retries.append(Retry(dict(live.trial.params), live.number, live.attempt))
        assert self.recorder is not None
        self.recorder.put(EndedTrial(live.trial_id, state, values, attrs,
                                     list(live.config.model.activations), improved))
        self.ended.append(TrialOutcome(live.number, state.name.lower(), value,
                                       live.config.model.activations, live.epochs_done, reason))

    def _on_epoch(self, key: int, result: EpochResult) -> None:
        live = self.live.get(key)
        if live is None:
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
        if result.cost is not None:
            live.latency = result.cost.latency_ms
        if self.pareto is not None:
            self.pareto.report(key, result.epoch, result.value, live.latency)
        else:
            live.trial.report(result.value, result.epoch)
        try:
            self.session.report(live.trial_id, result.epoch, result.value)
        except optuna.exceptions.UpdateFinishedTrialError:
            self._ended_elsewhere(key)
            return
        if result.epoch >= self.epochs:
            self._end(key, TrialState.COMPLETE)
        elif (self.pareto.should_prune(key, result.epoch) if self.pareto is not None
              else live.trial.should_prune()):
            self._end(key, TrialState.PRUNED, f"pruned after epoch {result.epoch}")

    def _ended_elsewhere(self, key: int) -> None:
        """Another driver failed this trial while this one could not reach the database (its
        heartbeat went stale) and re-queued its configuration: drop it here, writing nothing."""
        live = self.live.pop(key)
        self._slot(live.worker).actor.drop.remote(key)
        self.mirror.tell(live.trial, None, state=TrialState.FAIL)
        if self.pareto is not None:
            self.pareto.end(key, TrialState.FAIL, None, None)
        log.warning("trial %d was ended by another driver during a database outage; its "
                    "configuration is re-queued there", live.number)

    def _on_worker_death(self, worker: int, reason: str) -> None:
        """Fail the worker's trials (their configurations are re-queued) and replace it."""
        self.queues.pop(worker, None)
        for live in self._on_worker(worker):
            self._end(live.trial_id, TrialState.FAIL, reason, worker_alive=False)
        assert self.pool is not None
        self.pool.replace(self._slot(worker))
        log.warning("worker %d: %s; its trials run again, on a new worker once the cluster "
                    "has room for it (the other workers go on)", worker, reason)

    def _on_results(self, results: EpochResults) -> None:
        # Epochs first: a pack's healthy trials count as working before its errors are
        # weighed (see _on_trial_error).
        for key, result in results.items():
            if not isinstance(result, TrialError):
                self._on_epoch(key, result)
        for key, result in results.items():
            if isinstance(result, TrialError):
                self._on_trial_error(key, str(result))

    def _interrupted(self) -> SearchInterruptedError:
        """End the live trials as interrupted (a resumed search re-runs them)."""
        for key in list(self.live):
            self._end(key, TrialState.FAIL, "interrupted")
        return SearchInterruptedError(
            f"interrupted: {self.finished()} of {self.options.trials} trials of study "
            f"{self.name!r} finished; re-run the same command to resume")

    def _on_trial_error(self, key: int, error: str) -> None:
        """End the trial FAILED with its error; stop the search if every trial fails so."""
        reason = error[:300]
        if key in self.live:
            self._end(key, TrialState.FAIL, f"error: {reason}", retry=False)
        self.errors[reason] += 1
        # Only while nothing has worked: no trial finished, and none still running has
        # trained an epoch (with several trials per worker, healthy ones may be under way).
        working = self.finished_here or any(live.epochs_done for live in self.live.values())
        if self.errors[reason] >= FAILURES_TO_STOP and not working:
            for other in list(self.live):
                self._end(other, TrialState.FAIL, "search stopped: every trial failed")
            raise SearchFailedError(f"search {self.name!r} stopped: its first "
                               f"{self.errors[reason]} trials all failed with {reason}")

    # --- Main loop --------------------------------------------------------------------
    def run(self, keep_ray: bool = False) -> SearchResult:
        """Search, then report; stops the Ray it started unless ``keep_ray``."""
        start = self.started = time.perf_counter()
        self._enter("opening the study")
        ray_session = self.ray_session = RaySession(
            self.address, self.options.cpus_per_trial, self.options.gpus_per_trial,
            self.options.workers)
        try:
            self._open()
            searching = self.finished() < self.options.trials
            if searching or self.options.compare_relu:
                self._enter("starting Ray")
                ray_session.start()
                self.pool = WorkerPool(ray.put(self.data), self.options.workers,
                                       self.options.cpus_per_trial, self.options.gpus_per_trial,
                                       self.options.trials_per_worker)
            if searching:
                serve_metrics(self.metrics_port)
                self.recorder = TrialRecorder(self.storage, self.session.study_id,
                                              self.data.name, self.options.artifacts,
                                              self.patient, self.hooks.publish)
                self._enter(SEARCHING)
                try:
                    with _stop_on_signals(self):
                        self._loop(start)
                except KeyboardInterrupt:
                    raise self._interrupted() from None
                finally:
                    self.recorder.close()
            if self.options.compare_relu:
                self._enter("retraining the best and its ReLU twin")
            final = self._final() if self.options.compare_relu else {}
            found = report.importance(self.mirror)
            if found is not None:
                self.session.set_attr("importance", found[0])
                self.session.set_attr("importance_trials", found[1])
            if self.hooks.publish and self._best_trial() is not None:
                self.patient(self.hooks.publish, self.storage, self.data.name)
            self._enter("done")
            return self._result(start, final)
        finally:
            if self.pool is not None:
                self.pool.shutdown()
            if not keep_ray:
                ray_session.stop()

    def _loop(self, start: float) -> None:
        assert self.pool is not None
        last_beat = time.monotonic()
        while True:
            if self.stopping.is_set():
                raise KeyboardInterrupt
            finished = self.finished()  # launching changes neither count below
            try:
                self.pool.poll()
            except SearchFailedError as exc:  # a worker that cannot start at all
                for key in list(self.live):
                    self._end(key, TrialState.FAIL, f"search stopped: {exc}"[:300])
                raise
            for worker, slot in enumerate(self.pool.slots):
                if slot.placed:  # a replacement may wait for a node with room
                    self._fill(worker, finished)
                    self._keep_busy(worker)
            heads = {queue[0]: worker for worker, queue in self.queues.items() if queue}
            if not heads and not (self.pool.placing and self._wants_more(finished)):
                break
            # With nothing to train, the search waits for a lost node's room to come back.
            phase = WAITING_FOR_ROOM if not heads else SEARCHING
            if self.phase != phase:
                self._enter(phase)
            ready, _ = ray.wait([*heads, *self.pool.placing], num_returns=1, timeout=1.0)
            for ref in ready:
                if ref not in heads:
                    continue  # a waiting worker was placed: poll() takes it next round
                worker = heads[ref]
                self.queues[worker].popleft()
                try:
                    results = ray.get(ref)
                except RayActorError as exc:
                    self._on_worker_death(worker, f"worker died: {type(exc).__name__}")
                    continue
                except RayTaskError as exc:
                    # Trials' own errors come back as results; this is the worker's, and its
                    # trials' state is unknown: they run again on a fresh worker.
                    cause = getattr(exc, "cause", None) or exc
                    self._on_worker_death(worker, f"worker failed: {TrialError.of(cause)}"[:300])
                    continue
                self._on_results(results)
            metrics.WORKERS.labels(self.name).set(sum(s.placed for s in self.pool.slots))
            metrics.WORKERS_BUSY.labels(self.name).set(len(self.live))
            now = time.monotonic()
            if now - last_beat > HEARTBEAT_SECONDS / 2:
                self.session.heartbeat(live.trial_id for live in self.live.values())
                last_beat = now
            if now - self.session.last_refresh > REFRESH_SECONDS:
                self.session.refresh()
            self.on_progress(self.progress(start))

    def _fill(self, worker: int, finished: int) -> None:
        """Start trials on ``worker`` up to ``trials_per_worker`` while the study wants more."""
        while len(self._on_worker(worker)) < self.options.trials_per_worker:
            if not self._wants_more(finished):
                return
            # The mirror's count of other drivers' trials may be seconds old: the database
            # decides, so drivers sharing a study never overshoot it.
            assert self.recorder is not None
            unwritten = self.recorder.unwritten_failures
            with self.session.slot(self.options.trials, unwritten) as room:
                if not room:
                    return
                self._launch(worker)

    def _wants_more(self, finished: int) -> bool:
        """Whether the study still needs trials this driver could start."""
        running = len(self.live) + self.session.others_running
        return finished + running < self.options.trials

    def _enter(self, phase: str) -> None:
        self.phase = phase
        self.on_progress(self.progress(self.started))

    def progress(self, start: float) -> Progress:
        """A snapshot for live displays; it hands over the trials ended since the last one."""
        snapshot = report.progress(
            self.name, self.options.trials, self.mirror.get_trials(deepcopy=False),
            running=len(self.live), elapsed=time.perf_counter() - start)
        snapshot.phase = self.phase
        snapshot.running_trials = [
            RunningTrial(live.number, live.config.model.activations, live.epochs_done,
                         self.epochs, live.last.value if live.last else None)
            for live in sorted(self.live.values(), key=lambda live: live.number)]
        snapshot.ended, self.ended = self.ended, []
        return snapshot

    # --- Final report -----------------------------------------------------------------
    def _best_trial(self) -> optuna.trial.FrozenTrial | None:
        return report.best_trial(self.session.all_trials())

    def _final(self) -> dict[str, dict[str, float]]:
        best = self._best_trial()
        if best is None or self.pool is None:
            return {}
        # Not on a worker still waiting for a lost node's room: that may never come.
        if not self.pool.placed_actors() and not self.pool.poll(timeout=60.0):
            log.warning("no trial worker is running (the cluster has no room for one): the "
                        "closing retraining of the best and its ReLU twin is skipped")
            return {}
        final = report.final_glance(self.pool, self.space, self.data, best, self.epochs,
                                    self.options.seed)
        self.session.set_attr("final", final)
        return final

    def _result(self, start: float, final: dict[str, dict[str, float]]) -> SearchResult:
        trials = self.session.all_trials()
        best = report.best_trial(trials)
        complete, pruned, failed = report.state_counts(trials)
        return SearchResult(
            study=self.name, storage_url=self.storage_url, dataset=self.data.name,
            metric=self.data.metric,
            best_number=best.number if best else None,
            best_value=metric_value(best) if best else None,
            best_params=dict(best.params) if best else {},
            activations=list(best.user_attrs.get("activations", [])) if best else [],
            complete=complete, pruned=pruned, failed=failed,
            wall_seconds=time.perf_counter() - start, epochs_trained=self.epochs_trained,
            epoch_seconds=sum(self.epoch_seconds.values()), final=final,
            warm_started=tuple(self.warm_started),
            ray=self.ray_session.description,
            front=tuple((t.number, t.values[0], t.values[1]) for t in pareto_front(
                [t for t in trials if t.state == TrialState.COMPLETE and len(t.values or []) == 2],
                value=lambda t: t.values[0], latency=lambda t: t.values[1]))
            if self.cost_aware else (),
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

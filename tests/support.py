"""Helpers the end-to-end tests share: running the CLI, writing spaces, reading trials."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from optuna.trial import FrozenTrial, TrialState

from actsearch.errors import UsageError
from actsearch.store.database import open_storage
from actsearch.train.data import Dataset
from actsearch.train.loop import TrainConfig, Trainer
from actsearch.train.pack import TrialPack

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
T = TypeVar("T")

# Prunes hard: most trials end early.
AGGRESSIVE = """
model: {family: mlp, depth: {low: 2, high: 3}, width: 16}
activations:
  candidates: [relu, tanh, sigmoid, elu]
  params: {elu: {alpha: {low: 0.5, high: 1.5}}}
hyperparameters: {lr: {low: 1.0e-4, high: 1.0e-1, log: true}, epochs: 6}
sampler: {name: tpe, n_startup_trials: 3}
pruner: {name: percentile, percentile: 25, n_startup_trials: 1, n_warmup_steps: 0}
"""

# Trials of several seconds each, never pruned: long enough to kill something mid-trial.
SLOW = """
model: {family: mlp, depth: 3, width: 128}
activations: {candidates: [relu, tanh, elu, silu]}
hyperparameters: {lr: {low: 1.0e-3, high: 3.0e-3, log: true}, batch_size: 16, epochs: 25}
sampler: {name: random}
pruner: {name: none}
"""


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``actsearch ARGS`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "actsearch", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def write_space(tmp_path: Path, text: str, name: str = "space") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def study_trials(url: str, study: str) -> list[FrozenTrial]:
    storage = open_storage(url, create=False)
    try:
        return storage.get_all_trials(storage.get_study_id_from_name(study))
    finally:
        storage.engine.dispose()


def finished_count(trials: list[FrozenTrial]) -> int:
    return sum(1 for t in trials if t.state in FINISHED)


def wait_for(predicate: Callable[[], T | None], timeout: float = 300.0,
             process: subprocess.Popen[Any] | None = None, *, interval: float = 0.2,
             what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something true, and return that; fail at once if
    ``process`` exits first. An error in ``predicate`` counts as not yet (the database may
    not exist yet); the last one is reported if time runs out."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            err = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the search exited ({process.returncode}) first: {err}")
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"{what} not met in {timeout:.0f} s"
                         + (f" (last error: {last_error!r})" if last_error else ""))


def assert_exactly_finished(trials: list[FrozenTrial], target: int) -> None:
    """The fault suite's invariant: ``target`` finished trials, none RUNNING, and no
    configuration run to the end twice (each failed trial is retried at most once)."""
    states = [t.state for t in trials]
    assert finished_count(trials) == target, states
    assert TrialState.RUNNING not in states
    retry_of = [t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs]
    assert len(retry_of) == len(set(retry_of)), "a failed trial was retried twice"
    by_number = {t.number: t for t in trials}
    for number in retry_of:  # a retry repeats a failed trial, never a finished one
        assert by_number[number].state == TrialState.FAIL


def assert_failed_by_worker_death(trials: list[FrozenTrial], killed: list[int]) -> None:
    """Exactly the trials whose worker was killed ended FAILED, each saying so."""
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert sorted(t.number for t in failed) == sorted(killed)
    assert all("worker died" in t.user_attrs["fail_reason"] for t in failed)


def pack_beside_lone_twins(data: Dataset, configs: list[TrainConfig],
                           device: str) -> tuple[TrialPack, list[Trainer]]:
    """A :class:`~actsearch.train.pack.TrialPack` of ``configs`` (keys 0, 1, ...) and each
    configuration's trainer alone, to train side by side and compare."""
    pack = TrialPack(data, device)
    for key, config in enumerate(configs):
        pack.add(key, config)
    return pack, [Trainer(config, data, device) for config in configs]


def trials_so_far(url: str, study: str) -> list[FrozenTrial]:
    """The trials of ``study``, read while its search runs: none before the search has
    created the study (where :func:`study_trials` raises)."""
    try:
        return study_trials(url, study)
    except (UsageError, KeyError):
        return []


def assert_lost_trials_ran_again(trials: list[FrozenTrial], lost_node: str) -> None:
    """The trials a lost Ray node was training failed as its worker died, and each one's
    configuration ran again, to the end, on another node."""
    lost = [t for t in trials if t.state == TrialState.FAIL
            and t.user_attrs["node"]["node_id"] == lost_node]
    assert lost, "no trial failed on the lost node"
    for trial in lost:
        assert "worker died" in trial.user_attrs["fail_reason"], trial.user_attrs
        (again,) = [t for t in trials if t.user_attrs.get("retry_of") == trial.number]
        assert again.state in FINISHED and again.params == trial.params
        assert again.user_attrs["node"]["node_id"] != lost_node

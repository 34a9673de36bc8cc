"""Searches whose workers train several trials at once (``--trials-per-worker``): the study
still gets exactly the requested trials, pruning still ends single trials, and a dead worker
fails (and re-queues) every trial it held, nothing else."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from actsearch.search.options import SearchOptions
from actsearch.service.searches import run_search
from tests.support import (
    AGGRESSIVE,
    SLOW,
    assert_exactly_finished,
    assert_failed_by_worker_death,
    study_trials,
    wait_for,
    write_space,
)

pytestmark = pytest.mark.slow


def _overlapping(trials: list[FrozenTrial]) -> bool:
    """Whether two of these trials ran at the same time."""
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials
                   if t.datetime_start and t.datetime_complete)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


def test_a_worker_trains_several_trials_at_once_and_the_count_is_exact(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'packed.db'}"
    result = run_search(SearchOptions(
        dataset="iris", space=write_space(tmp_path, AGGRESSIVE), trials=14, workers=1,
        trials_per_worker=4, storage_url=url, study="packed", compare_relu=False,
        artifacts=False))
    trials = study_trials(url, "packed")
    assert_exactly_finished(trials, 14)
    assert result.complete + result.pruned == 14
    assert {t.user_attrs["node"]["pid"] for t in trials} == {trials[0].user_attrs["node"]["pid"]}
    assert _overlapping(trials)  # one worker, trials side by side
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and complete  # the pruner ended single trials of a pack
    assert all(len(t.intermediate_values) == 6 for t in complete)
    assert all(len(t.intermediate_values) < 6 for t in pruned)
    assert all(t.user_attrs["epochs"] == len(t.intermediate_values) for t in trials)
    # What each complete trial's network costs, measured by its worker; pruned ones: nothing.
    assert all(t.user_attrs["cost"]["params"] > 0 and t.user_attrs["cost"]["latency_ms"] > 0
               for t in complete)
    assert not any("cost" in t.user_attrs for t in pruned)


def test_a_killed_worker_fails_every_trial_it_held_and_they_run_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    args = ["search", "--dataset", "digits", "--space", write_space(tmp_path, SLOW),
            "--epochs", "6", "--trials", "8", "--workers", "2", "--trials-per-worker", "3",
            "--storage", url, "--study", "kill", "--no-compare-relu", "--no-artifacts"]
    driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def held_by_pid() -> dict[int, list[int]]:
        held: dict[int, list[int]] = defaultdict(list)
        for t in study_trials(url, "kill"):
            if t.state == TrialState.RUNNING and t.intermediate_values:
                held[int(t.user_attrs["node"]["pid"])].append(t.number)
        return held

    wait_for(lambda: any(len(numbers) == 3 for numbers in held_by_pid().values()),
             process=driver)
    pid, victims = next((pid, numbers) for pid, numbers in held_by_pid().items()
                        if len(numbers) == 3)
    os.kill(pid, signal.SIGKILL)
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr
    trials = study_trials(url, "kill")
    assert_exactly_finished(trials, 8)
    assert_failed_by_worker_death(trials, victims)
    retried = {t.user_attrs["retry_of"]: t for t in trials if "retry_of" in t.user_attrs}
    assert set(retried) == set(victims)
    for number, retry in retried.items():
        assert retry.params == trials[number].params
        assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)

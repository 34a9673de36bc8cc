"""SIGKILL, the fault nothing can catch: of the search driver at random points (ten times in
one study, then a resume), and of workers mid-trial (five times in one search). After each
study: exactly the requested finished trials, none lost, none run twice, none RUNNING."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from optuna.trial import TrialState

from tests.support import (
    SLOW,
    assert_exactly_finished,
    assert_failed_by_worker_death,
    cli,
    finished_count,
    study_trials,
    wait_for,
    write_space,
)

# Minutes of repeated kills: `make faults` runs them (the default run deselects them).
pytestmark = [pytest.mark.slow, pytest.mark.faults]


def _finished_numbers(url: str, study: str) -> set[int]:
    try:
        trials = study_trials(url, study)
    except Exception:  # killed before the study existed
        return set()
    return {t.number for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}


def _kill_tree(process: subprocess.Popen[str]) -> list[psutil.Process]:
    """SIGKILL the driver alone (as the OOM killer would); returns the processes it had
    started, to check that none outlives it."""
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return children


def _more_finished_than(url: str, count: int) -> Callable[[], bool]:
    return lambda: len(_finished_numbers(url, "kills")) > count


def _running_with_epochs(url: str, study: str) -> bool:
    return any(t.state == TrialState.RUNNING and t.intermediate_values
               for t in study_trials(url, study))


def test_driver_killed_ten_times_at_random_points_then_resumed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    args = ["search", "--dataset", "digits", "--space", write_space(tmp_path, SLOW), "--trials",
            "12", "--storage", url, "--study", "kills", "--no-compare-relu"]
    rng = random.Random(20261124)
    # Where each kill lands, in a random order: during start-up (Ray, the study, the first
    # trial), mid-trial, and right after a trial ended (while its result is being written).
    points = ["start-up"] * 3 + ["mid-trial"] * 4 + ["trial-ended"] * 3
    rng.shuffle(points)
    seen: set[int] = set()
    leftovers: list[psutil.Process] = []  # what each killed driver had started
    for point in points:
        driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if point == "start-up":
            time.sleep(rng.uniform(0.2, 3.0))
        elif point == "mid-trial":
            wait_for(lambda: _running_with_epochs(url, "kills"), process=driver)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            wait_for(_more_finished_than(url, len(seen)), process=driver)
        assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
        leftovers += _kill_tree(driver)
        finished = _finished_numbers(url, "kills")
        assert seen <= finished, "a finished trial was lost"
        seen = finished
    finished_before_resume = len(seen)
    assert finished_before_resume < 12, "the kills left nothing to resume: lengthen the trials"
    rerun = cli(*args, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    trials = study_trials(url, "kills")
    assert_exactly_finished(trials, 12)
    assert seen <= {t.number for t in trials if t.state != TrialState.FAIL}
    orphans = [t for t in trials if t.state == TrialState.FAIL]
    assert orphans and all("driver died" in t.user_attrs["fail_reason"] for t in orphans)
    # Ray's node processes die with the driver; Ray's agents linger
    # until their reconnect to the dead GCS times out (about a minute), then exit too.
    _, alive = psutil.wait_procs(leftovers, timeout=180)
    assert not alive, f"processes outlived their driver: {[p.name() for p in alive]}"
    print(f"driver kills: 10 ({', '.join(points)}), finished before the resume: "
          f"{finished_before_resume}, trials orphaned and re-run: {len(orphans)}, finished "
          f"after: {finished_count(trials)}")


def test_workers_killed_mid_trial_five_times(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    args = ["search", "--dataset", "digits", "--space", write_space(tmp_path, SLOW), "--trials",
            "8", "--storage", url, "--study", "workers", "--no-compare-relu", "--no-artifacts"]
    driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed: list[int] = []  # trial numbers whose worker was killed
    for _ in range(5):
        def training() -> bool:
            return any(t.state == TrialState.RUNNING and len(t.intermediate_values) >= 2
                       and t.number not in killed for t in study_trials(url, "workers"))

        wait_for(training, process=driver)
        victim = next(t for t in study_trials(url, "workers") if t.state == TrialState.RUNNING
                      and len(t.intermediate_values) >= 2 and t.number not in killed)
        os.kill(int(victim.user_attrs["node"]["pid"]), signal.SIGKILL)
        killed.append(victim.number)
        wait_for(lambda n=victim.number: study_trials(url, "workers")[n].state  # type: ignore[misc]
                 == TrialState.FAIL, process=driver)
    _, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stderr
    trials = study_trials(url, "workers")
    assert_exactly_finished(trials, 8)
    assert_failed_by_worker_death(trials, killed)
    # A killed configuration runs again next, unless the study's target was met first.
    retries = [t for t in trials if "retry_of" in t.user_attrs]
    assert retries
    by_number = {t.number: t for t in trials}
    for retry in retries:
        assert retry.params == by_number[retry.user_attrs["retry_of"]].params
    print(f"worker kills: {len(killed)}, failed: {len(killed)}, re-run: {len(retries)}, "
          f"finished: {finished_count(trials)} of 8")

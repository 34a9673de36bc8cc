"""Two drivers on one PostgreSQL study: the database decides, so the target is never passed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from actsearch.search.session import driver_of
from tests.support import study_trials, wait_for, write_space

pytestmark = pytest.mark.slow
SPACE = """
model: {family: mlp, depth: 2, width: 256}
activations: {candidates: [relu, tanh, elu]}
hyperparameters: {lr: {low: 1.0e-3, high: 1.0e-2, log: true}, batch_size: 16, epochs: 60}
sampler: {name: random}
pruner: {name: none}
"""


def test_two_drivers_on_one_study_finish_exactly_the_target(
        postgres_url: str, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "actsearch", "search", "--dataset", "digits", "--space",
            write_space(tmp_path, SPACE), "--trials", "8", "--workers", "1", "--storage",
            postgres_url, "--study", "shared", "--no-compare-relu", "--no-artifacts"]
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # The second starts once the first is training: each trial takes seconds, so it joins
    # (Ray start included) long before the first could finish all of them alone.
    wait_for(lambda: len(study_trials(postgres_url, "shared")) >= 1, process=first)
    second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for driver in (first, second):
        _, stderr = driver.communicate(timeout=600)
        assert driver.returncode == 0, stderr
    trials = study_trials(postgres_url, "shared")
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 8
    assert TrialState.RUNNING not in states
    drivers = {driver_of(t)["pid"] for t in trials}
    assert len(drivers) == 2  # both really took part

"""The study database crashes mid-search (``pg_ctl stop -m immediate``) and comes back: the
search waits it out and finishes exactly its trials; past its patience it stops with one
line, and re-running resumes exactly."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.faults.conftest import OwnPostgres
from tests.support import SLOW, assert_exactly_finished, cli, study_trials, wait_for, write_space

# Minutes of repeated kills: `make faults` runs them (the default run deselects them).
pytestmark = [pytest.mark.slow, pytest.mark.faults]


def _search(server: OwnPostgres, tmp_path: Path, trials: int) -> list[str]:
    return ["search", "--dataset", "digits", "--space", write_space(tmp_path, SLOW), "--trials",
            str(trials), "--storage", server.url, "--study", "crash", "--no-compare-relu",
            "--no-artifacts"]


def _mid_study(server: OwnPostgres) -> bool:
    trials = study_trials(server.url, "crash")
    return (any(t.state == TrialState.COMPLETE for t in trials)
            and any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials))


def test_a_search_waits_out_a_database_crash(own_postgres: OwnPostgres, tmp_path: Path) -> None:
    args = _search(own_postgres, tmp_path, 5)
    driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args], text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: _mid_study(own_postgres), process=driver)
    before = {t.number for t in study_trials(own_postgres.url, "crash")
              if t.state == TrialState.COMPLETE}
    own_postgres.stop("immediate")
    time.sleep(5)  # the driver notices while the server is down
    own_postgres.start()
    _, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stderr
    assert "database unreachable" in stderr
    trials = study_trials(own_postgres.url, "crash")
    assert_exactly_finished(trials, 5)
    assert before <= {t.number for t in trials if t.state == TrialState.COMPLETE}  # none lost
    print(f"database crash: {len(before)} trials finished before it, {len(trials)} trials in "
          f"all, {sum(t.state == TrialState.FAIL for t in trials)} failed")


def test_past_its_patience_a_search_stops_and_resumes(own_postgres: OwnPostgres,
                                                      tmp_path: Path) -> None:
    args = _search(own_postgres, tmp_path, 4)
    env = {**os.environ, "ACTSEARCH_STORAGE_PATIENCE_SECONDS": "3"}
    driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args], text=True, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: _mid_study(own_postgres), process=driver)
    own_postgres.stop("immediate")
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: the database") and "re-run the same command" in last
    assert "Traceback" not in stderr
    own_postgres.start()
    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert_exactly_finished(study_trials(own_postgres.url, "crash"), 4)

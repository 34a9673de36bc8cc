"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM mid-search:
one line, exit 130, nothing RUNNING; the same command resumes to the exact trial count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.support import SLOW, cli, study_trials, wait_for, write_space

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_search_says_so_and_resumes(how: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'i.db'}"
    args = ["search", "--dataset", "digits", "--space", write_space(tmp_path, SLOW),
            "--trials", "5", "--storage", url, "--study", "i", "--no-compare-relu"]
    driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)

    def mid_study() -> bool:
        states = [t.state for t in study_trials(url, "i")]
        return states.count(TrialState.COMPLETE) >= 1 and TrialState.RUNNING in states

    wait_for(mid_study, process=driver)
    if how == "ctrl-c":
        os.killpg(driver.pid, signal.SIGINT)
    else:
        driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted:") and "re-run the same command" in last
    trials = study_trials(url, "i")
    assert TrialState.RUNNING not in {t.state for t in trials}
    interrupted = [t for t in trials if t.user_attrs.get("fail_reason") == "interrupted"]
    assert interrupted
    if how == "sigterm":
        return  # resuming is the same after either signal: checked once, below
    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    states = [t.state for t in study_trials(url, "i")]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 5
    assert TrialState.RUNNING not in states

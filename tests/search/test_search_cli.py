"""End to end through the CLI with real Ray (2 workers) on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from actsearch.cli import app
from actsearch.storage import create_or_load_study, open_storage

pytestmark = pytest.mark.slow

AGGRESSIVE = """
model: {family: mlp, depth: {low: 2, high: 3}, width: 16}
activations:
  candidates: [relu, tanh, sigmoid, elu]
  params: {elu: {alpha: {low: 0.5, high: 1.5}}}
hyperparameters: {lr: {low: 1.0e-4, high: 1.0e-1, log: true}, epochs: 6}
sampler: {name: tpe, n_startup_trials: 3}
pruner: {name: percentile, percentile: 25, n_startup_trials: 1, n_warmup_steps: 0}
"""

SLOW = """
model: {family: mlp, depth: 3, width: 128}
activations: {candidates: [relu, tanh, elu, silu]}
hyperparameters: {lr: {low: 1.0e-3, high: 3.0e-3, log: true}, batch_size: 16, epochs: 25}
sampler: {name: random}
pruner: {name: none}
"""


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "actsearch", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def _space(tmp_path: Path, text: str, name: str = "space") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def _trials(url: str, study: str) -> list:  # type: ignore[type-arg]
    storage = open_storage(url, create=False)
    return storage.get_all_trials(storage.get_study_id_from_name(study))


def test_search_prunes_and_recommend_returns_the_best(storage_url: str, tmp_path: Path) -> None:
    space = _space(tmp_path, AGGRESSIVE)
    run = _cli("search", "--dataset", "iris", "--space", space, "--trials", "8",
               "--workers", "2", "--storage", storage_url, "--study", "e2e",
               "--no-compare-relu")
    assert run.returncode == 0, run.stderr
    trials = _trials(storage_url, "e2e")
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 8
    assert TrialState.PRUNED in states and TrialState.RUNNING not in states
    for t in trials:
        depth = t.params["depth"]
        layer_params = sorted(k for k in t.params if k.startswith("act_") and k.count("_") == 1)
        assert layer_params == [f"act_{i}" for i in range(depth)]
        assert len(t.user_attrs["activations"]) == depth
        assert t.user_attrs["node"]["host"]
        if t.state == TrialState.COMPLETE:
            assert len(t.intermediate_values) == 6 and len(t.user_attrs["telemetry"]) == depth
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    rec = _cli("recommend", "iris", "--storage", storage_url, "--format", "json")
    assert rec.returncode == 0, rec.stderr
    answer = json.loads(rec.stdout)
    assert answer["study"] == "e2e" and answer["trial"] == best.number
    assert answer["value"] == pytest.approx(best.value)
    assert answer["activations"] == best.user_attrs["activations"]
    assert answer["params"] == best.params


def test_default_options_search_digits_and_report_relu_comparison(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    run = _cli("search", "--trials", "3", "--epochs", "3", "--storage", url)
    assert run.returncode == 0, run.stderr
    assert "digits-default" in run.stdout and "untuned ReLU twin (ablation)" in run.stdout
    assert "actsearch confirm" in run.stdout  # the verdict needs tuned baselines
    storage = open_storage(url, create=False)
    study_id = storage.get_study_id_from_name("digits-default")
    final = storage.get_study_user_attrs(study_id)["final"]
    assert set(final) == {"best", "relu"} and 0 < final["relu"]["test"] <= 1
    meta = storage.get_study_user_attrs(study_id)["actsearch"]
    assert meta["dataset"] == "digits" and meta["meta"]["classes"] == 10
    states = [t.state for t in storage.get_all_trials(study_id)]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 3


def _wait_for(predicate, timeout: float = 300.0,  # type: ignore[no-untyped-def]
              process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            err = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"the search exited ({process.returncode}) first: {err}")
        try:
            if predicate():
                return
        except Exception:  # the database may not exist yet
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_resume_after_driver_sigkill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    args = ["search", "--dataset", "digits", "--space", _space(tmp_path, SLOW), "--trials", "6",
            "--storage", url, "--study", "resume", "--no-compare-relu"]
    driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def mid_study() -> bool:
        states = [t.state for t in _trials(url, "resume")]
        return states.count(TrialState.COMPLETE) >= 1 and TrialState.RUNNING in states

    _wait_for(mid_study, process=driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert TrialState.RUNNING in [t.state for t in _trials(url, "resume")]
    rerun = _cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    trials = _trials(url, "resume")
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 6
    assert TrialState.RUNNING not in states
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all("driver died" in t.user_attrs["fail_reason"] for t in failed)
    retried = {t.user_attrs.get("retry_of"): t for t in trials}
    for t in failed:  # each orphan's configuration was run again
        assert retried[t.number].params == t.params


def test_killed_worker_fails_its_trial_and_the_search_goes_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    args = ["search", "--dataset", "digits", "--space", _space(tmp_path, SLOW), "--trials", "4",
            "--storage", url, "--study", "workers", "--no-compare-relu"]
    driver = subprocess.Popen([sys.executable, "-m", "actsearch", *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def training() -> bool:
        return any(t.state == TrialState.RUNNING and t.intermediate_values
                   for t in _trials(url, "workers"))

    _wait_for(training, process=driver)
    workers = [p for p in psutil.Process(driver.pid).children(recursive=True)
               if "TrialWorker" in " ".join(p.cmdline())]
    assert workers, "no Ray worker process found"
    os.kill(workers[0].pid, signal.SIGKILL)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    trials = _trials(url, "workers")
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and "worker died" in failed[0].user_attrs["fail_reason"]
    retry = [t for t in trials if t.user_attrs.get("retry_of") == failed[0].number]
    assert retry and retry[0].params == failed[0].params
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 4


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "mnits"], "unknown dataset 'mnits'"),
    (["--data", "{tmp}/none.csv", "--target", "y"], "does not exist"),
    (["--data", "{tmp}/d.csv", "--target", "label"], "has no column 'label'"),
    (["--space", "{tmp}/bad.yaml"], "bad.yaml': activations.candidates"),
    (["--space", "nope"], "unknown search space 'nope'"),
    (["--storage", "postgresql+psycopg://postgres:pw@127.0.0.1:1/x"], "cannot open storage"),
    (["--storage", "not a url"], "is not a database URL"),
    (["--trials", "0"], "--trials must be at least 1"),
    (["--dataset", "wine", "--study", "kept"], "made for another dataset"),
])
def test_bad_input_exits_2_with_one_line_and_the_database_unchanged(
        tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "kept.db"
    storage = open_storage(f"sqlite:///{db}")
    create_or_load_study(storage, "kept", {"dataset": "digits", "fingerprint": "x",
                                           "space_digest": "y"})
    storage.engine.dispose()
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n")
    (tmp_path / "bad.yaml").write_text("activations: {candidates: [relu, nosuch]}")
    before = _digest(db)
    full = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--storage" not in full:
        full += ["--storage", f"sqlite:///{db}"]
    result = CliRunner().invoke(app, ["search", *full])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output and "pw@" not in result.output
    assert _digest(db) == before


def test_exact_trial_count_when_the_mirror_refreshes_every_iteration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A refresh between a trial's end and its database write must not count that trial as
    # another driver's running trial (which once stopped a search one trial short).
    from actsearch import runner

    monkeypatch.setattr(runner, "REFRESH_SECONDS", 0.0)
    url = f"sqlite:///{tmp_path / 'n.db'}"
    seen: list[runner.Progress] = []
    result = runner.run_search(runner.SearchOptions(
        dataset="iris", space=_space(tmp_path, AGGRESSIVE), trials=7, storage=url,
        study="count", compare_relu=False), on_progress=seen.append)
    assert result.complete + result.pruned == 7
    # The live display's last frame: counts, and the best trial's per-layer activations.
    last = seen[-1]
    assert last.complete + last.pruned == 7 and last.running == 0
    assert last.best_value == pytest.approx(result.best_value)
    assert last.best_activations == result.activations and result.activations
    states = [t.state for t in _trials(url, "count")]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 7


def test_diverging_trials_are_pruned_with_the_reason_and_the_search_goes_on(
        tmp_path: Path) -> None:
    from actsearch import runner

    space = _space(tmp_path, """
model: {family: mlp, depth: 2, width: 16}
activations: {candidates: [relu]}
hyperparameters: {lr: {choices: [1.0e+6, 1.0e-2]}, optimizer: sgd, epochs: 4}
sampler: {name: random}
pruner: {name: none}
strategy: {name: joint}  # every trial samples lr: the diverging one must come up
""")
    url = f"sqlite:///{tmp_path / 'nan.db'}"
    result = runner.run_search(runner.SearchOptions(
        dataset="digits", space=space, trials=6, storage=url, study="nan", seed=0,
        compare_relu=False))
    assert result.complete + result.pruned == 6
    trials = _trials(url, "nan")
    diverged = [t for t in trials if t.params["lr"] > 1]
    assert diverged, "the sampler never picked the diverging learning rate"
    for t in diverged:
        assert t.state == TrialState.PRUNED
        assert t.user_attrs["stop_reason"].startswith("diverged: loss or metric became nan/inf")
    assert any(t.state == TrialState.COMPLETE for t in trials)

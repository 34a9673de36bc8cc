"""Cost-aware searches end to end: a real two-objective search on Ray, confirmed, then asked
for the Pareto front and for the best configuration within a latency or parameter budget."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import select

from actsearch.store.database import open_storage
from actsearch.store.tables import ConfirmationRun, session_scope
from tests.conftest import free_port, make_client
from tests.support import cli, study_trials, wait_for, write_space

pytestmark = pytest.mark.slow

# Widths from 4 to 128 and functions of very different cost (swish_beta and the rational
# unit take several times ReLU's time): the trials spread over latency.
COSTLY = """
model: {family: mlp, depth: {low: 1, high: 2}, width: {choices: [4, 32, 128]}}
activations: {candidates: [relu, tanh, swish_beta, rational]}
hyperparameters: {lr: {low: 5.0e-3, high: 3.0e-2, log: true}, epochs: 4}
sampler: {name: tpe, n_startup_trials: 4}
pruner: {name: none}
strategy: {name: joint}
objectives: [accuracy, latency]
"""


def _ok(*args: str) -> str:
    run = cli(*args)
    assert run.returncode == 0, run.stderr
    return run.stdout


@dataclass(frozen=True)
class Searched:
    url: str
    limit: float  # a latency budget a third of the searched networks fit
    unconfirmed: dict[str, Any]  # the answer within it before `actsearch confirm`
    summary: str  # what the search printed


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Searched:
    """A cost-aware search of iris (the objectives from its space file), asked within a
    budget, then confirmed."""
    tmp = tmp_path_factory.mktemp("cost")
    url = f"sqlite:///{tmp / 'cost.db'}"
    space = write_space(tmp, COSTLY)
    summary = _ok("search", "--dataset", "iris", "--space", space, "--trials", "12",
                  "--workers", "2", "--storage", url, "--study", "cost", "--no-compare-relu",
                  "--no-artifacts")
    latencies = sorted(t.values[1] for t in _complete(url))
    limit = latencies[len(latencies) // 3]
    unconfirmed = _recommend(url, "--max-latency-ms", repr(limit))
    _ok("confirm", "cost", "--top-k", "2", "--seeds", "3", "--storage", url)
    return Searched(url, limit, unconfirmed, summary)


def _complete(url: str, study: str = "cost") -> list[FrozenTrial]:
    return [t for t in study_trials(url, study) if t.state == TrialState.COMPLETE]


def _recommend(url: str, *budget: str) -> dict[str, Any]:
    return json.loads(_ok("recommend", "iris", "--storage", url, "--format", "json",
                          *budget))  # type: ignore[no-any-return]


def test_the_study_has_two_objectives_and_records_latency_as_the_second(
        searched: Searched) -> None:
    study = optuna.load_study(study_name="cost", storage=searched.url)
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert study.metric_names == ["accuracy", "latency_ms"]
    complete = _complete(searched.url)
    assert len(complete) >= 8
    for t in complete:
        assert t.values[1] == pytest.approx(t.user_attrs["cost"]["latency_ms"])
    latencies = sorted(t.values[1] for t in complete)
    assert latencies[-1] > 2 * latencies[0]  # a real spread to choose from


def test_every_front_member_is_non_dominated_and_every_other_trial_is(
        searched: Searched) -> None:
    rec = _recommend(searched.url)
    points = {t.number: (t.values[0], t.values[1]) for t in _complete(searched.url)}
    front = {m["trial"] for m in rec["front"]}
    for number, (score, latency) in points.items():
        beaten = any(s >= score and lat <= latency and (s, lat) != (score, latency)
                     for s, lat in points.values())
        assert (number in front) == (not beaten), number
    assert [m["latency_ms"] for m in rec["front"]] == sorted(m["latency_ms"] for m in rec["front"])
    # The search's summary said how large the front was.
    assert f"│ front           │ {len(front)} trials, from" in searched.summary
    # Confirmed front members carry their test scores over seeds.
    confirmed = [m for m in rec["front"] if m["n"]]
    assert all(m["n"] == 3 and 0 <= m["test_mean"] <= 1 for m in confirmed)


def test_unconfirmed_a_budget_picks_the_most_accurate_searched_network_within_it(
        searched: Searched) -> None:
    rec = searched.unconfirmed
    fitting = [t for t in _complete(searched.url) if t.values[1] <= searched.limit]
    best = max(fitting, key=lambda t: (t.values[0], -t.values[1], -t.number))
    assert (rec["study"], rec["trial"]) == ("cost", best.number)
    assert rec["latency_ms"] <= searched.limit and rec["budget"].startswith("--max-latency-ms")
    assert not rec["confirmed"] and rec["verdict"].startswith("unconfirmed")


@pytest.mark.parametrize("kind", ["latency_ms", "params"])
def test_confirmed_a_budget_judges_every_side_within_it(searched: Searched, kind: str) -> None:
    """After confirmation the answer within a budget is chosen as an unbudgeted one is (the
    best side by mean validation over seeds), among the configurations that fit, tuned
    baselines included; the budget is that of the cheapest confirmed per-layer network."""
    retrained = {(r["study"], r["trial"]) for r in _retrained(searched.url)}
    costs = {(study, t.number): t.user_attrs["cost"] for study in {s for s, _ in retrained}
             for t in _complete(searched.url, study)}
    limit = min(costs[key][kind] for key in retrained if key[0] == "cost")
    flag = (["--max-latency-ms", repr(limit)] if kind == "latency_ms"
            else ["--max-params", str(limit)])
    rec = _recommend(searched.url, *flag)
    assert rec["budget"] == " ".join(flag)
    # Judged against tuned ReLU exactly when one of its retrained configurations fits the
    # budget (which of them fits depends on what the searches sampled).
    relu_fits = any(costs[key][kind] <= limit for key in retrained
                    if key[0] == "cost--tuned-relu")
    assert rec["confirmed"] == relu_fits
    assert costs[(rec["study"], rec["trial"])][kind] <= limit
    assert (rec["study"], rec["trial"]) in retrained
    for side in rec["baselines"].values():
        assert costs[(side["study"], side["trial"])][kind] <= limit
    assert rec["verdicts"] == {k: c["verdict"] for k, c in rec["comparisons"].items()}
    assert "tuned_relu" in rec["comparisons"] or "tuned_relu" not in rec["baselines"]


def _retrained(url: str) -> list[dict[str, Any]]:
    """The configurations `actsearch confirm` retrained over seeds, as it stored them."""
    storage = open_storage(url, create=False)
    with session_scope(storage.engine) as session:
        return [{"study": r.study, "trial": r.trial_number} for r in session.scalars(
            select(ConfirmationRun).where(ConfirmationRun.variant == "searched"))]


def test_an_impossible_budget_exits_2_naming_the_cheapest(searched: Searched) -> None:
    run = cli("recommend", "iris", "--storage", searched.url, "--max-latency-ms", "1e-9")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "no configuration of 'iris' fits --max-latency-ms 1e-09" in lines[0]
    assert "the cheapest searched takes" in lines[0] and "raise the budget" in lines[0]


def test_the_api_answers_budgets_as_the_cli_does(searched: Searched) -> None:
    limit = sorted(t.values[1] for t in _complete(searched.url))[4]
    with make_client(searched.url) as client:
        api = client.get("/api/v1/recommendations/iris",
                         params={"max_latency_ms": limit}).json()
        impossible = client.get("/api/v1/recommendations/iris",
                                params={"max_latency_ms": 1e-9})
        plain = client.get("/api/v1/recommendations/iris").json()
    assert api == _recommend(searched.url, "--max-latency-ms", repr(limit))
    assert impossible.status_code == 422 and "raise the budget" in impossible.json()["detail"]
    assert plain["budget"] is None and plain["front"] == _recommend(searched.url)["front"]


def test_resuming_with_other_objectives_is_refused_before_any_write(
        searched: Searched, tmp_path: Path) -> None:
    before = len(study_trials(searched.url, "cost"))
    space = write_space(tmp_path, COSTLY.replace("objectives: [accuracy, latency]", ""))
    run = cli("search", "--dataset", "iris", "--space", space, "--trials", "20",
              "--storage", searched.url, "--study", "cost", "--no-compare-relu")
    assert run.returncode == 2
    assert "optimises accuracy, latency, not accuracy" in run.stderr
    assert len(study_trials(searched.url, "cost")) == before


@pytest.mark.parametrize("objectives", ["latency", "accuracy,params", "r2,latency", ""])
def test_bad_objectives_exit_2_with_one_line(objectives: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    run = cli("search", "--dataset", "iris", "--objectives", objectives, "--trials", "2",
              "--storage", url)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "--objectives must be the task metric (accuracy for iris)" in run.stderr
    assert not (tmp_path / "bad.db").exists()


def test_the_dashboard_shows_the_front_and_the_note_lists_it(searched: Searched) -> None:
    """optuna-dashboard's multi-objective views read the study: its two objectives and its
    best trials (the Pareto front Optuna computes); the study note lists actsearch's front."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "actsearch", "dashboard", "--storage",
                               searched.url, "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/api/studies"), timeout=60)
        (study,) = [s for s in httpx.get(f"{base}/api/studies", timeout=5).json()[
            "study_summaries"] if s["study_name"] == "cost"]
        detail = httpx.get(f"{base}/api/studies/{study['study_id']}", timeout=10).json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert detail["directions"] == ["maximize", "minimize"]
    assert detail["objective_names"] == ["accuracy", "latency_ms"]
    front = {m["trial"] for m in _recommend(searched.url)["front"]}
    by_id = {t["trial_id"]: t["number"] for t in detail["trials"]}
    assert {by_id[t["trial_id"]] for t in detail["best_trials"]} == front
    note = detail["note"]["body"]
    assert "the Pareto front" in note
    assert all(f"| #{number} |" in note for number in front)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False

"""Confirmation end to end: tuned baselines searched, every side retrained on Ray, verdicts."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import sklearn.datasets
from optuna.trial import TrialState
from scipy import stats as scipy_stats
from sqlalchemy import func, select

from actsearch.store.database import open_storage
from actsearch.store.studies import list_studies
from actsearch.store.tables import ConfirmationRun, session_scope
from tests.conftest import add_trial
from tests.support import AGGRESSIVE, cli, study_trials, write_space

pytestmark = pytest.mark.slow

SMALL = """
model: {family: mlp, depth: {low: 1, high: 2}, width: 16}
activations: {candidates: [relu, tanh, elu]}
hyperparameters: {lr: {low: 3.0e-3, high: 3.0e-2, log: true}, epochs: 4}
sampler: {name: tpe, n_startup_trials: 2}
pruner: {name: none}
"""

# Every candidate multiplies by zero: the per-layer search can only predict a constant.
DEAD = SMALL.replace("candidates: [relu, tanh, elu]", 'candidates: ["0 * x"]')


def _recommend(url: str, dataset: str) -> dict:  # type: ignore[type-arg]
    result = cli("recommend", dataset, "--storage", url, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _runs(url: str) -> int:
    storage = open_storage(url, create=False)
    with session_scope(storage.engine) as session:
        return int(session.scalar(select(func.count()).select_from(ConfirmationRun)) or 0)


def _by_hand(url: str, side: dict, baseline: dict,  # type: ignore[type-arg]
             label: str) -> dict:  # type: ignore[type-arg]
    """A side's comparison with a baseline, recomputed here from the stored retrainings
    (per-seed test scores, per-example outcomes): the standard error of the difference adds
    the variance of the mean per-example paired difference to both sides' seed variances;
    Welch-Satterthwaite degrees of freedom over the three terms; a two-sided t-test at 5%."""
    storage = open_storage(url, create=False)
    with session_scope(storage.engine) as session:
        def runs(which: dict) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
            rows = session.scalars(select(ConfirmationRun).where(
                ConfirmationRun.study == which["study"],
                ConfirmationRun.trial_number == which["trial"],
                ConfirmationRun.variant == "searched").order_by(ConfirmationRun.seed)).all()
            return (np.array([r.test for r in rows]),
                    np.array([r.test_outcomes for r in rows], dtype=np.float64))
        (a, a_outcomes), (b, b_outcomes) = runs(side), runs(baseline)
    storage.engine.dispose()
    difference = float(a.mean() - b.mean())
    paired = a_outcomes.mean(axis=0) - b_outcomes.mean(axis=0)
    terms = [(paired.var(ddof=1) / len(paired), len(paired) - 1),
             (a.var(ddof=1) / len(a), len(a) - 1), (b.var(ddof=1) / len(b), len(b) - 1)]
    variance = sum(v for v, _ in terms)
    rope = 0.01  # the default: one point of accuracy
    if variance == 0.0:  # the same predictions on every example and seed: nothing to judge
        p_value, half = (1.0 if difference == 0.0 else 0.0), 0.0
        p_worse, p_better = float(difference < -rope), float(difference > rope)
    else:
        dof = variance**2 / sum(v**2 / d for v, d in terms if v > 0)
        t = abs(difference) / math.sqrt(variance)
        p_value = float(2 * scipy_stats.t.sf(t, dof))
        half = float(scipy_stats.t.ppf(0.975, dof)) * math.sqrt(variance)
        # The posterior of the difference: Student t at the difference, scale its error.
        posterior = scipy_stats.t(dof, loc=difference, scale=math.sqrt(variance))
        p_worse, p_better = float(posterior.cdf(-rope)), float(posterior.sf(rope))
    p_equivalent = 1 - p_worse - p_better
    if p_better >= 0.95:
        verdict, probability = f"better than {label}", p_better
    elif p_worse >= 0.95:
        verdict, probability = f"worse than {label}", p_worse
    elif p_equivalent >= 0.95:
        verdict, probability = f"practically equivalent to {label}", p_equivalent
    else:
        verdict = f"undecided against {label}"
        probability = max(p_worse, p_equivalent, p_better)
    return {"difference": difference, "p_value": p_value, "ci_low": difference - half,
            "ci_high": difference + half, "verdict": verdict, "probability": probability,
            "p_better": p_better, "p_worse": p_worse}


def _assert_matches(comparison: dict, expected: dict) -> None:  # type: ignore[type-arg]
    for key in ("difference", "p_value", "ci_low", "ci_high", "probability", "p_better",
                "p_worse"):
        assert comparison[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-12), key
    assert comparison["rope"] == 0.01
    assert comparison["verdict"] == expected["verdict"]


def test_confirm_searches_baselines_once_and_names_them_in_the_verdict(
        postgres_url: str, tmp_path: Path) -> None:
    # PostgreSQL here; the other confirmations below run on SQLite.
    storage_url = postgres_url
    search = cli("search", "--dataset", "iris", "--space", write_space(tmp_path, SMALL), "--trials",
                  "3", "--storage", storage_url, "--study", "c", "--no-compare-relu", "--seed",
                  "5", "--no-artifacts")
    assert search.returncode == 0, search.stderr
    before = _recommend(storage_url, "iris")
    assert before["confirmation"] is None and before["baselines"] == {}
    assert before["verdict"].startswith("unconfirmed")
    assert "actsearch confirm c" in before["verdict"]

    confirm = cli("confirm", "c", "--top-k", "2", "--seeds", "3", "--storage", storage_url)
    assert confirm.returncode == 0, confirm.stderr
    assert "baseline c--tuned-relu: 3 trials" in confirm.stdout
    rec = _recommend(storage_url, "iris")
    studies = {s.name: s for s in list_studies(open_storage(storage_url, create=False))}
    assert set(studies) == {"c", "c--tuned-relu", "c--uniform"}
    for name in ("c--tuned-relu", "c--uniform"):  # same budget, epochs and seed
        meta = studies[name].meta
        assert studies[name].n_complete + studies[name].n_pruned == 3
        assert (meta["baseline_of"], meta["epochs"], meta["seed"]) == ("c", 4, 5)
    c = rec["confirmation"]
    assert c["baseline"] == "tuned_relu" and c["n"] == 3 and c["baseline_n"] == 3
    assert c["method"] == "seeds and test examples" and c["seeds"] == [0, 1, 2]
    assert c["study"] == "c"  # the per-layer search is what is judged
    # Each verdict and its interval, recomputed by hand from the stored runs: the verdict is
    # the one those numbers decide, whichever it is.
    relu, uniform = rec["baselines"]["tuned_relu"], rec["baselines"]["uniform"]
    expected = _by_hand(storage_url, c, relu, "tuned ReLU")
    _assert_matches(c, expected)
    assert rec["verdict"] == expected["verdict"] == rec["verdicts"]["tuned_relu"]
    expected = _by_hand(storage_url, c, uniform, "the best uniform activation")
    _assert_matches(rec["comparisons"]["uniform"], expected)
    assert rec["verdicts"]["uniform"] == expected["verdict"]
    # No pruner: all three trials complete, enough for fANOVA to explain the search.
    assert [t.state for t in study_trials(storage_url, "c")] == [TrialState.COMPLETE] * 3
    assert rec["importance"] and all(v >= 0 for v in rec["importance"].values())
    assert sum(rec["importance"].values()) == pytest.approx(1.0, abs=1e-3)
    assert "over 3 completed trials of study c" in rec["importance_about"]
    assert relu["study"] == "c--tuned-relu" and relu["trials"] == 3
    assert set(relu["activations"]) == {"relu"} and relu["n"] == 3
    assert rec["baselines"]["uniform"]["study"] == "c--uniform"
    # The recommended configuration is the chosen side's confirmed best.
    chosen = rec["baselines"].get(rec["side"]) or {"study": c["study"], "trial": c["trial"]}
    assert (rec["study"], rec["trial"]) == (chosen["study"], chosen["trial"])
    assert rec["ablation"]["baseline"] == "relu_twin"  # labelled as the ablation it is

    runs = _runs(storage_url)
    trials = {name: s.n_complete + s.n_pruned for name, s in studies.items()}
    again = cli("confirm", "c", "--top-k", "2", "--seeds", "3", "--storage", storage_url)
    assert again.returncode == 0, again.stderr
    assert "retraining" not in again.stdout  # everything reused, nothing redone
    after = {s.name: s.n_complete + s.n_pruned
             for s in list_studies(open_storage(storage_url, create=False))}
    assert after == trials and _runs(storage_url) == runs


def test_tuned_relu_is_recommended_when_it_wins_on_validation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dead.db'}"
    search = cli("search", "--dataset", "iris", "--space", write_space(tmp_path, DEAD), "--trials",
                  "2", "--storage", url, "--study", "dead", "--no-compare-relu",
                  "--no-artifacts")
    assert search.returncode == 0, search.stderr
    confirm = cli("confirm", "dead", "--top-k", "1", "--seeds", "2", "--storage", url)
    assert confirm.returncode == 0, confirm.stderr
    rec = _recommend(url, "iris")
    assert rec["side"] == "tuned_relu" and set(rec["activations"]) == {"relu"}
    assert rec["study"] == "dead--tuned-relu"
    assert rec["verdict"] == "worse than tuned ReLU"
    assert set(rec["verdicts"]) == {"tuned_relu"}  # one candidate: no uniform baseline
    assert "the tuned ReLU baseline" in confirm.stdout


def test_confirm_a_csv_study_and_a_moved_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'csv.db'}"
    first, moved = tmp_path / "a" / "wine.csv", tmp_path / "b" / "renamed.csv"
    first.parent.mkdir()
    moved.parent.mkdir()
    sklearn.datasets.load_wine(as_frame=True).frame.to_csv(first, index=False)
    search = cli("search", "--data", str(first), "--target", "target", "--space",
                  write_space(tmp_path, SMALL), "--trials", "2", "--storage", url, "--study", "w",
                  "--no-compare-relu", "--no-artifacts")
    assert search.returncode == 0, search.stderr
    shutil.move(first, moved)
    gone = cli("confirm", "w", "--top-k", "1", "--seeds", "2", "--storage", url)
    assert gone.returncode == 2 and "is gone" in gone.stderr and "--data PATH" in gone.stderr
    assert "Traceback" not in gone.stderr
    other = tmp_path / "other.csv"
    sklearn.datasets.load_wine(as_frame=True).frame.iloc[:-1].to_csv(other, index=False)
    wrong = cli("confirm", "w", "--data", str(other), "--storage", url)
    assert wrong.returncode == 2 and "fingerprint differs" in wrong.stderr
    assert [s.name for s in list_studies(open_storage(url, create=False))] == ["w"]
    assert _runs(url) == 0  # refused before anything was written

    ok = cli("confirm", "w", "--data", str(moved), "--top-k", "1", "--seeds", "2",
              "--storage", url)
    assert ok.returncode == 0, ok.stderr
    rec = _recommend(url, "wine")
    assert rec["confirmation"]["n"] == 2
    assert rec["baselines"]["tuned_relu"]["study"] == "w--tuned-relu"
    storage = open_storage(url, create=False)
    baseline = storage.get_study_id_from_name("w--tuned-relu")
    meta = storage.get_study_user_attrs(baseline)["actsearch"]
    assert (meta["data_path"], meta["target"]) == (str(moved), "target")
    # The file, asked about by content, is recognised as the study's data.
    again = cli("recommend", "--data", str(moved), "--target", "target", "--storage", url,
                 "--format", "json")
    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    assert body == rec and body["source"] == "studies"


def test_confirm_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    missing = cli("confirm", "nope", "--storage", url)
    assert missing.returncode == 2 and "does not exist yet" in missing.stderr
    one_seed = cli("confirm", "nope", "--seeds", "1", "--storage", url)
    assert one_seed.returncode == 2 and "--seeds >= 2" in one_seed.stderr


def test_warm_start_enqueues_fitting_configurations_of_similar_datasets(tmp_path: Path) -> None:
    from optuna.distributions import FloatDistribution, IntDistribution

    from actsearch.recommend.recommendation import refresh_recommendation
    from actsearch.store.studies import create_or_load_study

    url = f"sqlite:///{tmp_path / 'w.db'}"
    storage = open_storage(url)
    fits = {"depth": 2, "act_0": "tanh", "act_1": "elu", "act_1_alpha": 1.25, "lr": 0.02}
    alien = {"depth": 2, "act_0": "mish", "act_1": "relu", "lr": 0.02}  # mish: not a choice
    for dataset, params, meta in (
            ("wine", fits, {"samples": 178, "features": 13, "classes": 3,
                            "class_balance": 0.68, "task": "multiclass"}),
            ("digits", alien, {"samples": 1797, "features": 64, "classes": 10,
                               "class_balance": 0.95, "task": "multiclass"})):
        study_id = create_or_load_study(storage, f"{dataset}-x", {"dataset": dataset,
                                                                  "meta": meta})
        add_trial(storage, study_id, params, 0.9, choices=["tanh", "elu", "mish", "relu"],
                  distributions={"depth": IntDistribution(2, 3),
                                 "lr": FloatDistribution(1e-4, 0.1, log=True),
                                 "act_1_alpha": FloatDistribution(0.5, 1.5)},
                  user_attrs={"activations": [params["act_0"], params["act_1"]]})
        refresh_recommendation(storage, dataset)
    run = cli("search", "--dataset", "iris", "--space", write_space(tmp_path, AGGRESSIVE),
               "--trials", "2", "--workers", "1", "--storage", url, "--study", "warm",
               "--warm-start", "--no-compare-relu")
    assert run.returncode == 0, run.stderr
    trials = storage.get_all_trials(storage.get_study_id_from_name("warm"))
    warm = [t for t in trials if t.user_attrs.get("warm_start_from")]
    assert [t.user_attrs["warm_start_from"] for t in warm] == ["wine"]
    assert warm[0].params == fits and warm[0].number == 0

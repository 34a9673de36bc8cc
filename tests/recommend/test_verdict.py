"""The verdict: four answers (better, worse, practically equivalent, undecided) with the
probability behind each, and its error rates: an A/A test must not find differences more
often than alpha."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from actsearch.recommend.stats import ALPHA, Comparison, compare, verdict_word
from actsearch.train.data import load_dataset
from actsearch.train.loop import TrainConfig, train
from actsearch.train.models import MLPConfig


def _binomial_upper(n: int, p: float, q: float = 0.999) -> int:
    return int(scipy_stats.binom.ppf(q, n, p))


def test_aa_false_positive_rate_on_normal_scores() -> None:
    rng = np.random.default_rng(0)
    reps = 4000
    significant = sum(
        compare(rng.normal(0.95, 0.01, 5), rng.normal(0.95, 0.01, 5)).significant
        for _ in range(reps))
    assert significant <= _binomial_upper(reps, ALPHA)
    assert significant >= int(scipy_stats.binom.ppf(0.001, reps, ALPHA))  # the test is not mute


def test_real_differences_are_found_and_signed() -> None:
    rng = np.random.default_rng(1)
    better = compare(rng.normal(0.97, 0.004, 8), rng.normal(0.95, 0.004, 8))
    assert better.verdict == "better than tuned ReLU" and better.ci_low > 0
    worse = compare(rng.normal(0.90, 0.004, 8), rng.normal(0.95, 0.004, 8), baseline="uniform")
    assert worse.verdict == "worse than the best uniform activation" and worse.ci_high < 0
    same = compare([0.9, 0.9, 0.9], [0.9, 0.9, 0.9])
    assert same.verdict == "practically equivalent to tuned ReLU" and same.p_value == 1.0
    with pytest.raises(ValueError, match="two seeds"):
        compare([0.9], [0.9, 0.8])


def test_welch_interval_matches_scipy() -> None:
    a, b = [0.91, 0.93, 0.92, 0.95], [0.90, 0.89, 0.92]
    result = compare(a, b)
    expected = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue)
    ci = expected.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))


@pytest.mark.slow  # 400 networks trained
def test_aa_with_real_trainings_identical_configurations() -> None:
    # The same configuration against itself, each side over its own seeds, many times: the
    # verdict may call them different only at about the stated error rate.
    data = load_dataset("moons")
    config = TrainConfig(MLPConfig(2, 1, (16,), ("tanh",)), lr=1e-2, batch_size=64, epochs=3)
    scores = []
    for seed in range(400):
        trainer, _ = train(TrainConfig(**{**config.__dict__, "seed": seed}), data)
        scores.append(trainer.score("test"))
    scores_arr = np.array(scores)
    assert scores_arr.std() > 0.005  # seeds really differ: the test has noise to judge
    reps = 40
    groups = scores_arr.reshape(reps * 2, 5)
    significant = sum(compare(groups[2 * i], groups[2 * i + 1]).significant
                      for i in range(reps))
    assert significant <= _binomial_upper(reps, ALPHA)


def _configuration(rng: np.random.Generator, n_examples: int, accuracy: float) -> np.ndarray:
    """Which test examples a configuration gets right: its own set, at a given rate."""
    return rng.random(n_examples) < accuracy


def _seed_runs(rng: np.random.Generator, right: np.ndarray, seeds: int,
               flip: float) -> np.ndarray:
    """Per seed, per example outcomes: the configuration's answers with a few flipped."""
    flips = rng.random((seeds, len(right))) < flip
    return np.where(flips, ~right, right).astype(np.float64)


# Identical seed scores make scipy warn about precision: they are part of the simulation.
@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_two_equally_good_configurations_aa_is_calibrated_only_with_test_examples() -> None:
    # Two configurations with the same true accuracy get *different* test examples right
    # (as two independently tuned networks do). On one finite test split one of them looks
    # better by luck; seeds alone do not see that noise and call a winner far too often.
    rng = np.random.default_rng(3)
    reps, seeds, n_examples = 300, 3, 300
    combined = seeds_only = 0
    for _ in range(reps):
        a = _seed_runs(rng, _configuration(rng, n_examples, 0.85), seeds, 0.02)
        b = _seed_runs(rng, _configuration(rng, n_examples, 0.85), seeds, 0.02)
        with_examples = compare(a.mean(1), b.mean(1), outcomes=a, baseline_outcomes=b)
        assert with_examples.method == "seeds and test examples"
        combined += with_examples.significant
        seeds_only += compare(a.mean(1), b.mean(1)).significant
    assert combined <= _binomial_upper(reps, ALPHA)
    assert seeds_only > 3 * _binomial_upper(reps, ALPHA)  # what the fix is for


def test_paired_test_still_finds_a_real_difference() -> None:
    rng = np.random.default_rng(4)
    base = _configuration(rng, 2000, 0.80)
    better = base | (rng.random(2000) < 0.25)  # right wherever base is, and on more examples
    a, b = _seed_runs(rng, better, 3, 0.01), _seed_runs(rng, base, 3, 0.01)
    result = compare(a.mean(1), b.mean(1), outcomes=a, baseline_outcomes=b)
    assert result.verdict == "better than tuned ReLU" and result.ci_low > 0
    identical = compare(a.mean(1), a.mean(1), outcomes=a, baseline_outcomes=a)
    assert identical.p_value == 1.0 and not identical.significant


def test_outcomes_of_another_test_split_fall_back_to_seeds() -> None:
    result = compare([0.9, 0.92], [0.91, 0.9], outcomes=[[1.0, 0.0], [1.0, 1.0]],
                     baseline_outcomes=[[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert result.method == "seeds"


def test_the_four_answers_and_the_probability_behind_each() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    base = _configuration(rng, n, 0.80)
    # A planted 10-point gain on many test rows: better, and the interval clears the ROPE.
    gain = base | (rng.random(n) < 0.5)
    a, b = _seed_runs(rng, gain, 3, 0.01), _seed_runs(rng, base, 3, 0.01)
    better = compare(a.mean(1), b.mean(1), outcomes=a, baseline_outcomes=b)
    assert better.decision == "better" and better.verdict == "better than tuned ReLU"
    assert better.probability == better.p_better and better.probability >= 0.95
    assert better.ci_low > better.rope == 0.01 and better.to_decide is None
    # The same configuration twice, 5,000 rows: practically equivalent within ±0.01.
    twin = _seed_runs(rng, base, 3, 0.01)
    equivalent = compare(b.mean(1), twin.mean(1), outcomes=b, baseline_outcomes=twin)
    assert equivalent.decision == "equivalent", equivalent.sentence("accuracy")
    assert equivalent.verdict == "practically equivalent to tuned ReLU"
    assert equivalent.p_equivalent is not None and equivalent.p_equivalent >= 0.95
    assert equivalent.ci_low > -0.01 and equivalent.ci_high < 0.01
    # Too few rows to tell: undecided, with what would decide it.
    few_a, few_b = b[:, :150], twin[:, :150]
    undecided = compare(few_a.mean(1), few_b.mean(1), outcomes=few_a, baseline_outcomes=few_b)
    assert undecided.decision == "undecided" and undecided.probability is not None
    assert undecided.verdict == "undecided against tuned ReLU"
    assert undecided.probability < 0.95
    assert undecided.to_decide is not None and "x the test rows" in undecided.to_decide
    assert undecided.ci_high - undecided.ci_low > 2 * 0.01  # wider than the ROPE
    assert "ROPE ±0.01" in undecided.sentence("accuracy")
    assert sum(p for p in (undecided.p_better, undecided.p_equivalent, undecided.p_worse)
               if p is not None) == pytest.approx(1.0)


def test_the_posterior_is_the_student_t_of_the_interval() -> None:
    a, b = [0.91, 0.93, 0.92, 0.95], [0.90, 0.89, 0.92]
    result = compare(a, b, rope=0.02)
    welch = scipy_stats.ttest_ind(a, b, equal_var=False)
    se = (result.difference / welch.statistic)
    posterior = scipy_stats.t(welch.df, loc=result.difference, scale=se)
    assert result.p_better == pytest.approx(posterior.sf(0.02))
    assert result.p_worse == pytest.approx(posterior.cdf(-0.02))
    assert result.rope == 0.02
    with pytest.raises(ValueError, match="ROPE"):
        compare(a, b, rope=-0.1)


def test_aa_decisions_of_better_or_worse_stay_below_alpha() -> None:
    rng = np.random.default_rng(6)
    reps, seeds, n_examples = 300, 3, 1000
    called = 0
    for _ in range(reps):
        a = _seed_runs(rng, _configuration(rng, n_examples, 0.85), seeds, 0.02)
        b = _seed_runs(rng, _configuration(rng, n_examples, 0.85), seeds, 0.02)
        called += compare(a.mean(1), b.mean(1), outcomes=a,
                          baseline_outcomes=b).decision in ("better", "worse")
    assert called <= _binomial_upper(reps, ALPHA)


def test_verdicts_stored_before_the_rope_keep_loading_and_read_as_undecided() -> None:
    stored = {"baseline": "tuned_relu", "mean": 0.8, "std": 0.01, "n": 3,
              "baseline_mean": 0.79, "baseline_std": 0.01, "baseline_n": 3,
              "difference": 0.01, "ci_low": -0.03, "ci_high": 0.05, "p_value": 0.6,
              "alpha": 0.05, "method": "seeds and test examples",
              "verdict": "no significant difference from tuned ReLU"}
    old = Comparison.model_validate(stored)
    assert old.decision is None and old.rope is None
    assert old.sentence("accuracy").endswith("p = 0.6, no significant difference from tuned "
                                             "ReLU")
    assert verdict_word(old.verdict) == "undecided"
    assert verdict_word("practically equivalent to tuned ReLU") == "equivalent"
    assert verdict_word("undecided against tuned ReLU") == "undecided"

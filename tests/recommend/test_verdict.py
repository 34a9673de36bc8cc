"""The verdict's error rates: an A/A test must not find differences more often than alpha."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from actsearch.data import load_dataset
from actsearch.models import MLPConfig
from actsearch.stats import ALPHA, compare
from actsearch.training import TrainConfig, train


def _binomial_upper(n: int, p: float, q: float = 0.999) -> int:
    return int(scipy_stats.binom.ppf(q, n, p))


def test_aa_false_positive_rate_on_normal_scores() -> None:
    rng = np.random.default_rng(0)
    reps = 4000
    significant = sum(
        compare(rng.normal(0.95, 0.01, 5), rng.normal(0.95, 0.01, 5)).verdict
        != "no significant difference" for _ in range(reps))
    assert significant <= _binomial_upper(reps, ALPHA)
    assert significant >= int(scipy_stats.binom.ppf(0.001, reps, ALPHA))  # the test is not mute


def test_real_differences_are_found_and_signed() -> None:
    rng = np.random.default_rng(1)
    better = compare(rng.normal(0.97, 0.004, 8), rng.normal(0.95, 0.004, 8))
    assert better.verdict == "better than ReLU" and better.ci_low > 0
    worse = compare(rng.normal(0.90, 0.004, 8), rng.normal(0.95, 0.004, 8))
    assert worse.verdict == "worse than ReLU" and worse.ci_high < 0
    same = compare([0.9, 0.9, 0.9], [0.9, 0.9, 0.9])
    assert same.verdict == "no significant difference" and same.p_value == 1.0
    with pytest.raises(ValueError, match="two seeds"):
        compare([0.9], [0.9, 0.8])


def test_welch_interval_matches_scipy() -> None:
    a, b = [0.91, 0.93, 0.92, 0.95], [0.90, 0.89, 0.92]
    result = compare(a, b)
    expected = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue)
    ci = expected.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))


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
    significant = sum(compare(groups[2 * i], groups[2 * i + 1]).verdict
                      != "no significant difference" for i in range(reps))
    assert significant <= _binomial_upper(reps, ALPHA)

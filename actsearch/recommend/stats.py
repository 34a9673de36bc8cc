"""Is a configuration really better than its baseline? A t-test over seeds and test examples.

Gains between activation functions are often smaller than seed-to-seed noise (the Mish
README: SqueezeNet on CIFAR-10 over 23 runs, ReLU 86.66 ± 0.58 vs Mish 87.48 ± 0.40), so a
verdict claims a winner only when the difference in mean test score is significant at
``alpha``; otherwise it says there is no significant difference.

Two sources of noise separate a measured difference from the true one:

- the seeds (initialisation, batch order): the spread of each side's test score over seeds;
- the test examples: both sides are scored on one finite test split, so two different
  configurations can differ on it by luck of which rows it holds. Seeds alone miss this, and
  a seed-only test then calls two equally good configurations different far more often
  than ``alpha`` (an A/A check of two independently tuned ReLU searches shows it).

With per-example outcomes for both sides (:func:`actsearch.train.loop.outcomes`), the standard
error adds the variance of the per-example paired difference to both sides' seed variances
(Welch–Satterthwaite degrees of freedom over the three terms). Seed noise then counts twice,
a little: the test errs on the side of "no significant difference". Without outcomes it is
Welch's two-sample t-test over the per-seed scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field
from scipy import stats

ALPHA = 0.05
BaselineKind = Literal["tuned_relu", "uniform", "relu_twin"]
BASELINE_LABELS: dict[str, str] = {
    "tuned_relu": "tuned ReLU",
    "uniform": "the best uniform activation",
    "relu_twin": "the untuned ReLU twin",
    "default_relu": "a default ReLU MLP",
    "joint": "the joint search",
}
NO_DIFFERENCE = "no significant difference from"
RELU_BASELINES = ("tuned_relu", "relu_twin")


def verdict_word(verdict: str | None) -> Literal["better", "tie", "worse", "unconfirmed"]:
    """A verdict in one word, for narrow columns and counts."""
    if verdict and verdict.startswith("better"):
        return "better"
    if verdict and verdict.startswith("worse"):
        return "worse"
    if verdict and verdict.startswith(NO_DIFFERENCE):
        return "tie"
    return "unconfirmed"


def verdict_text(direction: Literal["better", "same", "worse"], baseline: str) -> str:
    """``better than tuned ReLU``, ``no significant difference from tuned ReLU``, ..."""
    label = BASELINE_LABELS[baseline]
    return {"better": f"better than {label}", "same": f"{NO_DIFFERENCE} {label}",
            "worse": f"worse than {label}"}[direction]


class Comparison(BaseModel):
    """A configuration's test scores over seeds against a baseline's.

    It is stored inside recommendations and served by the API as it is (one schema).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    baseline: str = Field(description="What it is compared with: tuned_relu, uniform or "
                                      "relu_twin (the ablation).")
    mean: float = Field(description="The configuration's mean test score over seeds.")
    std: float = Field(description="Its standard deviation over seeds.")
    n: int = Field(description="Its seeds.")
    baseline_mean: float
    baseline_std: float
    baseline_n: int
    difference: float = Field(description="mean - baseline_mean.")
    ci_low: float = Field(description="The (1 - alpha) confidence interval of the difference.")
    ci_high: float
    p_value: float = Field(description="Two-sided.")
    alpha: float
    method: str = Field(description="'seeds and test examples' or 'seeds' (see the "
                                    "statistics module).")
    verdict: str = Field(description="Names the baseline, e.g. 'no significant difference "
                                     "from tuned ReLU'.")

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @computed_field(description="= baseline_mean against a ReLU baseline (an earlier key).")
    @property
    def relu_mean(self) -> float | None:
        return self.baseline_mean if self.baseline in RELU_BASELINES else None

    @computed_field(description="= baseline_std against a ReLU baseline (an earlier key).")
    @property
    def relu_std(self) -> float | None:
        return self.baseline_std if self.baseline in RELU_BASELINES else None

    @computed_field(description="= baseline_n against a ReLU baseline (an earlier key).")
    @property
    def relu_n(self) -> int | None:
        return self.baseline_n if self.baseline in RELU_BASELINES else None

    def sentence(self, metric: str) -> str:
        """The comparison in one line, as the CLI and the study note print it."""
        return (f"test {metric} over {self.n} seeds {self.mean:.4f} ± {self.std:.4f} vs "
                f"{self.baseline_mean:.4f} ± {self.baseline_std:.4f}: difference "
                f"{self.difference:+.4f} (95% CI {self.ci_low:+.4f} .. {self.ci_high:+.4f}), "
                f"p = {self.p_value:.3g}, {self.verdict}")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def compare(scores: Sequence[float], baseline_scores: Sequence[float], *,
            baseline: str = "tuned_relu",
            outcomes: Sequence[Sequence[float]] | None = None,
            baseline_outcomes: Sequence[Sequence[float]] | None = None,
            alpha: float = ALPHA) -> Comparison:
    """Compare per-seed test scores, pairing per-example outcomes when both sides have them.

    Args:
        scores, baseline_scores: One test score per seed on each side.
        baseline: The baseline's kind (it names the verdict).
        outcomes, baseline_outcomes: Per seed, the per-example outcomes on the shared test
            split (their mean is that seed's score).
        alpha: The test's level.

    Raises:
        ValueError: Fewer than two scores on either side.
    """
    a = np.asarray(scores, dtype=np.float64)
    b = np.asarray(baseline_scores, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("a t-test needs at least two seeds on each side")
    diff = float(a.mean() - b.mean())
    paired = _paired_variance(outcomes, baseline_outcomes)
    if paired is None:
        method = "seeds"
        p_value, ci_low, ci_high = _welch(a, b, diff, alpha)
    else:
        method = "seeds and test examples"
        p_value, ci_low, ci_high = _combined(a, b, diff, paired, alpha)
    direction: Literal["better", "same", "worse"] = "same"
    if p_value < alpha:
        direction = "better" if diff > 0 else "worse"
    return Comparison(
        baseline=baseline, mean=float(a.mean()), std=float(a.std(ddof=1)), n=len(a),
        baseline_mean=float(b.mean()), baseline_std=float(b.std(ddof=1)), baseline_n=len(b),
        difference=diff, ci_low=ci_low, ci_high=ci_high, p_value=p_value, alpha=alpha,
        method=method, verdict=verdict_text(direction, baseline),
    )


def _welch(a: np.ndarray, b: np.ndarray, diff: float,
           alpha: float) -> tuple[float, float, float]:
    if a.var(ddof=1) + b.var(ddof=1) == 0.0:  # constant scores: no noise to judge against
        return (1.0 if diff == 0.0 else 0.0), diff, diff
    result = stats.ttest_ind(a, b, equal_var=False)
    ci = result.confidence_interval(1 - alpha)
    return float(result.pvalue), float(ci.low), float(ci.high)


def _paired_variance(outcomes: Sequence[Sequence[float]] | None,
                     baseline_outcomes: Sequence[Sequence[float]] | None
                     ) -> tuple[float, int] | None:
    """Variance of the mean per-example difference, and the number of examples."""
    if outcomes is None or baseline_outcomes is None:
        return None
    if not len(outcomes) or not len(baseline_outcomes):
        return None
    lengths = {len(o) for o in (*outcomes, *baseline_outcomes)}
    if len(lengths) != 1 or 0 in lengths:  # not scored on one shared test split
        return None
    per_example = (np.mean(np.asarray(outcomes, dtype=np.float64), axis=0)
                   - np.mean(np.asarray(baseline_outcomes, dtype=np.float64), axis=0))
    n_examples = len(per_example)
    if n_examples < 2:
        return None
    return float(per_example.var(ddof=1) / n_examples), n_examples


def _combined(a: np.ndarray, b: np.ndarray, diff: float, paired: tuple[float, int],
              alpha: float) -> tuple[float, float, float]:
    var_examples, n_examples = paired
    terms = [(var_examples, n_examples - 1), (a.var(ddof=1) / len(a), len(a) - 1),
             (b.var(ddof=1) / len(b), len(b) - 1)]
    variance = sum(v for v, _ in terms)
    if variance == 0.0:  # the same predictions on every example and seed
        return (1.0 if diff == 0.0 else 0.0), diff, diff
    # Welch–Satterthwaite: the effective degrees of freedom of a sum of variance estimates.
    dof = variance**2 / sum(v**2 / d for v, d in terms if v > 0)
    se = math.sqrt(variance)
    p_value = float(2 * stats.t.sf(abs(diff) / se, dof))
    half = float(stats.t.ppf(1 - alpha / 2, dof)) * se
    return p_value, diff - half, diff + half

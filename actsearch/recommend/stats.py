"""Is a configuration better than its baseline, worse, practically equivalent, or is it too
early to say? A judgement over seeds and test examples, with a region of practical
equivalence.

Gains between activation functions are often smaller than seed-to-seed noise (the Mish
README: SqueezeNet on CIFAR-10 over 23 runs, ReLU 86.66 ± 0.58 vs Mish 87.48 ± 0.40), and
"no significant difference" with a wide interval is not "as good". A verdict has four answers
(Kruschke's decision rule with a region of practical equivalence, the ROPE, as baycomp reads
its posteriors; Benavoli et al. 2017):

- **better** / **worse**: the difference lies beyond +ROPE (or below -ROPE) with probability
  at least :data:`DECISION_PROBABILITY`;
- **practically equivalent**: it lies within ±ROPE with that probability;
- **undecided**: none of the three reaches it; the comparison says how many times more test
  rows (folds, repeats, a larger dataset) would narrow the interval enough to decide.

The probabilities come from the Student-t distribution of the difference that also gives the
confidence interval (location the observed difference, scale its standard error, the
degrees of freedom below): with a flat prior it is the posterior of the difference, the form
of the Bayesian correlated t-test, here with this module's variance terms. The ROPE defaults
to :data:`ROPE_DEFAULT` (one point of accuracy, 0.01 of R²) and can be set per search.

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
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field
from scipy import stats

ALPHA = 0.05
ROPE_DEFAULT = 0.01  # one point of accuracy; the same 0.01 for R², also a fraction
DECISION_PROBABILITY = 0.95
Decision = Literal["better", "worse", "equivalent", "undecided"]
BaselineKind = Literal["tuned_relu", "uniform", "relu_twin"]
BASELINE_LABELS: dict[str, str] = {
    "tuned_relu": "tuned ReLU",
    "uniform": "the best uniform activation",
    "relu_twin": "the untuned ReLU twin",
    "default_relu": "a default ReLU MLP",
    "joint": "the joint search",
}
NO_DIFFERENCE = "no significant difference from"  # verdicts stored before the ROPE
EQUIVALENT = "practically equivalent to"
UNDECIDED = "undecided against"
RELU_BASELINES = ("tuned_relu", "relu_twin")
VerdictWord = Literal["better", "equivalent", "undecided", "worse", "unconfirmed"]


def verdict_word(verdict: str | None) -> VerdictWord:
    """A verdict in one word, for narrow columns and counts. A verdict stored before the
    ROPE, "no significant difference", said that the data could not tell: undecided."""
    if verdict and verdict.startswith("better"):
        return "better"
    if verdict and verdict.startswith("worse"):
        return "worse"
    if verdict and verdict.startswith(EQUIVALENT):
        return "equivalent"
    if verdict and verdict.startswith((UNDECIDED, NO_DIFFERENCE)):
        return "undecided"
    return "unconfirmed"


def verdict_text(decision: Decision, baseline: str) -> str:
    """``better than tuned ReLU``, ``practically equivalent to tuned ReLU``, ..."""
    label = BASELINE_LABELS[baseline]
    return {"better": f"better than {label}", "equivalent": f"{EQUIVALENT} {label}",
            "undecided": f"{UNDECIDED} {label}", "worse": f"worse than {label}"}[decision]


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
    verdict: str = Field(description="Names the baseline, e.g. 'practically equivalent to "
                                     "tuned ReLU'; stored before the ROPE: 'no significant "
                                     "difference from tuned ReLU'.")
    # Absent from comparisons stored before the ROPE existed (they keep loading).
    decision: Decision | None = Field(default=None, description="better, worse, equivalent "
                                      "(within ±rope) or undecided.")
    probability: float | None = Field(default=None, description="The probability behind the "
                                      "decision (for undecided: the largest of the three).")
    rope: float | None = Field(default=None, description="Half-width of the region of "
                               "practical equivalence.")
    p_better: float | None = Field(default=None, description="P(difference > rope).")
    p_equivalent: float | None = Field(default=None, description="P(|difference| <= rope).")
    p_worse: float | None = Field(default=None, description="P(difference < -rope).")
    to_decide: str | None = Field(default=None, description="For undecided: what would "
                                  "decide it.")
    protocol: dict[str, Any] | None = Field(default=None, description="How the scores were "
                                            "measured: folds, repeats, seeds, test rows.")

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
        text = (f"test {metric} over {self.n} seeds {self.mean:.4f} ± {self.std:.4f} vs "
                f"{self.baseline_mean:.4f} ± {self.baseline_std:.4f}: difference "
                f"{self.difference:+.4f} (95% CI {self.ci_low:+.4f} .. {self.ci_high:+.4f}), ")
        if self.probability is None or self.rope is None:  # stored before the ROPE
            return text + f"p = {self.p_value:.3g}, {self.verdict}"
        if self.decision == "undecided":
            text += (f"ROPE ±{self.rope:g}: {self.verdict} (P(better) {self.p_better:.2f}, "
                     f"P(equivalent) {self.p_equivalent:.2f}, P(worse) {self.p_worse:.2f})")
        else:
            text += f"ROPE ±{self.rope:g}: {self.verdict} (P = {self.probability:.2f})"
        return text + (f"; {self.to_decide}" if self.to_decide else "")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def compare(scores: Sequence[float], baseline_scores: Sequence[float], *,
            baseline: str = "tuned_relu",
            outcomes: Sequence[Sequence[float]] | None = None,
            baseline_outcomes: Sequence[Sequence[float]] | None = None,
            alpha: float = ALPHA, rope: float = ROPE_DEFAULT) -> Comparison:
    """Compare per-seed test scores, pairing per-example outcomes when both sides have them.

    Args:
        scores, baseline_scores: One test score per seed on each side.
        baseline: The baseline's kind (it names the verdict).
        outcomes, baseline_outcomes: Per seed, the per-example outcomes on the shared test
            split (their mean is that seed's score).
        alpha: The level of the confidence interval and p-value (1 - alpha interval).
        rope: Half-width of the region of practical equivalence.

    Raises:
        ValueError: Fewer than two scores on either side, or a negative ``rope``.
    """
    a = np.asarray(scores, dtype=np.float64)
    b = np.asarray(baseline_scores, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("a t-test needs at least two seeds on each side")
    diff = float(a.mean() - b.mean())
    if rope < 0:
        raise ValueError(f"the ROPE's half-width must not be negative, not {rope}")
    paired = _paired_variance(outcomes, baseline_outcomes)
    if paired is None:
        method, spread = "seeds", _welch(a, b)
        examples = None
    else:
        method, spread = "seeds and test examples", _combined(a, b, paired)
        examples = paired[1]
    p_value, ci_low, ci_high = _test(diff, spread, alpha)
    p_worse, p_equivalent, p_better = _posterior(diff, spread, rope)
    decision, probability = _decide(p_worse, p_equivalent, p_better)
    return Comparison(
        baseline=baseline, mean=float(a.mean()), std=float(a.std(ddof=1)), n=len(a),
        baseline_mean=float(b.mean()), baseline_std=float(b.std(ddof=1)), baseline_n=len(b),
        difference=diff, ci_low=ci_low, ci_high=ci_high, p_value=p_value, alpha=alpha,
        method=method, verdict=verdict_text(decision, baseline), decision=decision,
        probability=probability, rope=rope, p_better=p_better, p_equivalent=p_equivalent,
        p_worse=p_worse,
        to_decide=_to_decide(diff, ci_high - diff, rope) if decision == "undecided" else None,
        protocol={"split": "60/20/20, one split", "folds": 1, "repeats": 1, "seeds": len(a),
                  "test_rows": examples},
    )


@dataclass(frozen=True)
class Spread:
    """The standard error of the difference and its degrees of freedom (0: no noise)."""

    se: float
    dof: float


def _welch(a: np.ndarray, b: np.ndarray) -> Spread:
    return _satterthwaite([(a.var(ddof=1) / len(a), len(a) - 1),
                           (b.var(ddof=1) / len(b), len(b) - 1)])


def _satterthwaite(terms: list[tuple[float, int]]) -> Spread:
    """Welch–Satterthwaite: the effective degrees of freedom of a sum of variance estimates."""
    variance = float(sum(v for v, _ in terms))
    if variance == 0.0:  # the same scores (or predictions) everywhere: nothing to judge
        return Spread(0.0, 0.0)
    dof = variance**2 / sum(v**2 / d for v, d in terms if v > 0)
    return Spread(math.sqrt(variance), float(dof))


def _test(diff: float, spread: Spread, alpha: float) -> tuple[float, float, float]:
    """Two-sided p-value and the (1 - alpha) interval of the difference."""
    if spread.se == 0.0:
        return (1.0 if diff == 0.0 else 0.0), diff, diff
    p_value = float(2 * stats.t.sf(abs(diff) / spread.se, spread.dof))
    half = float(stats.t.ppf(1 - alpha / 2, spread.dof)) * spread.se
    return p_value, diff - half, diff + half


def _posterior(diff: float, spread: Spread, rope: float) -> tuple[float, float, float]:
    """P(difference < -rope), P(|difference| <= rope), P(difference > rope)."""
    if spread.se == 0.0:
        worse, better = float(diff < -rope), float(diff > rope)
    else:
        t = stats.t(spread.dof, loc=diff, scale=spread.se)
        worse, better = float(t.cdf(-rope)), float(t.sf(rope))
    return worse, max(0.0, 1.0 - worse - better), better


def _decide(p_worse: float, p_equivalent: float, p_better: float) -> tuple[Decision, float]:
    for decision, p in (("better", p_better), ("worse", p_worse),
                        ("equivalent", p_equivalent)):
        if p >= DECISION_PROBABILITY:
            return decision, p  # type: ignore[return-value]
    return "undecided", max(p_worse, p_equivalent, p_better)


def _to_decide(diff: float, half: float, rope: float) -> str:
    """What would decide an undecided comparison: the interval must fit inside the ROPE (or
    outside it), and its width shrinks with the square root of the test rows."""
    room = abs(rope - abs(diff))
    if room < 1e-9 or half == 0.0:
        return ("the difference sits at the ROPE's edge: only far more data, or another "
                "ROPE, would decide it")
    factor = (half / room) ** 2
    return (f"about {max(factor, 1.0):.0f}x the test rows (more folds or repeats, more seeds, "
            "or a larger dataset) would decide it")


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


def _combined(a: np.ndarray, b: np.ndarray, paired: tuple[float, int]) -> Spread:
    var_examples, n_examples = paired
    return _satterthwaite([(var_examples, n_examples - 1),
                           (a.var(ddof=1) / len(a), len(a) - 1),
                           (b.var(ddof=1) / len(b), len(b) - 1)])

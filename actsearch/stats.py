"""Is a configuration really better than ReLU? Welch's t-test over repeated seeds.

Gains between activation functions are often smaller than seed-to-seed noise (anchors.md:
Mish vs ReLU over 23 runs), so a recommendation claims a winner only when the difference in
mean test score is significant at ``alpha``; otherwise it says there is no significant
difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

Verdict = Literal["better than ReLU", "no significant difference", "worse than ReLU"]
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """Searched configuration vs its all-ReLU twin over repeated seeds."""

    mean: float
    std: float
    n: int
    relu_mean: float
    relu_std: float
    relu_n: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(searched: Sequence[float], relu: Sequence[float], alpha: float = ALPHA) -> Comparison:
    """Welch's two-sample t-test (unequal variances) and the (1 - alpha) CI of the difference.

    Raises:
        ValueError: Fewer than two scores on either side.
    """
    a = np.asarray(searched, dtype=np.float64)
    b = np.asarray(relu, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("a t-test needs at least two seeds on each side")
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:  # identical constant scores: no evidence of any difference
        p_value, half = (1.0, 0.0) if diff == 0.0 else (0.0, 0.0)
    else:
        # Welch–Satterthwaite degrees of freedom.
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        p_value = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se
    verdict: Verdict = "no significant difference"
    if p_value < alpha:
        verdict = "better than ReLU" if diff > 0 else "worse than ReLU"
    return Comparison(
        mean=float(a.mean()), std=float(a.std(ddof=1)), n=len(a),
        relu_mean=float(b.mean()), relu_std=float(b.std(ddof=1)), relu_n=len(b),
        difference=diff, ci_low=diff - half, ci_high=diff + half, p_value=p_value,
        alpha=alpha, verdict=verdict,
    )

"""Least-squares fit of a safe rational unit to a target function (Molina et al. 2020, §3).

Used once to derive :class:`~actsearch.activations.Rational`'s default coefficients and by
users who want a rational unit that starts as another function.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from actsearch.activations._adaptive import Rational


def fit_rational(
    target: Callable[[Tensor], Tensor],
    degrees: tuple[int, int] = (5, 4),
    interval: tuple[float, float] = (-3.0, 3.0),
    steps: int = 500,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Fit numerator and denominator coefficients so the unit approximates ``target``.

    A linear least-squares solve of ``P(x) - y·(Q(x) - 1) = y`` gives the starting point;
    L-BFGS then minimises the squared error of the actual (safe) rational function.

    Args:
        target: The function to approximate.
        degrees: ``(m, n)``, degrees of numerator and denominator.
        interval: Where the fit is made.
        steps: L-BFGS iterations.

    Returns:
        ``(numerator, denominator)`` ready for :class:`Rational`.
    """
    m, n = degrees
    x = torch.linspace(*interval, 2001, dtype=torch.float64)
    y = target(x)
    powers = torch.stack([x**j for j in range(m + 1)], dim=1)
    weighted = torch.stack([-y * x.abs() ** k for k in range(1, n + 1)], dim=1)
    start = torch.linalg.lstsq(torch.cat([powers, weighted], dim=1), y.unsqueeze(1)).solution
    unit = Rational(tuple(start[: m + 1, 0].tolist()), tuple(start[m + 1 :, 0].tolist())).double()
    optimizer = torch.optim.LBFGS(unit.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss: Tensor = (unit(x) - y).square().mean()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return (
        tuple(round(v, 7) for v in unit.numerator.tolist()),
        tuple(round(abs(v), 7) for v in unit.denominator.tolist()),
    )

"""Curves of activation functions and their derivatives, as activation surveys draw them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from actsearch.activations import ActivationSpec, create, info, is_known
from actsearch.errors import UsageError


def curve(spec: ActivationSpec, x_range: tuple[float, float] = (-5.0, 5.0),
          points: int = 801) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, f(x), f'(x))`` in float64, the module in eval mode (RReLU at its mean slope).

    Raises:
        UsageError: The function is not element-wise (maxout, softmax) and has no curve.
    """
    if isinstance(spec, str) and is_known(spec) and not info(spec).elementwise:
        raise UsageError(
            f"{spec!r} is not element-wise (its output mixes units), so it has no curve; "
            "plot element-wise functions only"
        )
    low, high = x_range
    if not low < high:
        raise UsageError(f"plot range ({low}, {high}) is empty: give LOW < HIGH")
    module = create(spec).double().eval()
    x = torch.linspace(low, high, points, dtype=torch.float64, requires_grad=True)
    y = module(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return x.detach(), y.detach(), dy


def plot_curves(
    specs: Sequence[ActivationSpec],
    path: str | Path,
    *,
    derivative: bool = False,
    x_range: tuple[float, float] = (-5.0, 5.0),
    title: str | None = None,
) -> Path:
    """Draw the functions (and, optionally, their derivatives) on one figure and save it.

    Returns:
        The path written (PNG, SVG or PDF, by extension).
    """
    if not specs:
        raise UsageError("no activation to plot: name at least one, e.g. relu")
    panels = 2 if derivative else 1
    figure = Figure(figsize=(6.0 * panels, 4.2), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    for spec in specs:
        x, y, dy = curve(spec, x_range)
        label = spec if isinstance(spec, str) else type(create(spec)).__name__
        axes[0].plot(x.numpy(), y.numpy(), label=label, linewidth=1.8)
        if derivative:
            axes[1].plot(x.numpy(), dy.numpy(), label=f"{label}′", linewidth=1.5, linestyle="--")
    axes[0].set_title(title or "f(x)")
    if derivative:
        axes[1].set_title("f′(x)")
    for ax in axes:
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.axvline(0.0, color="0.6", linewidth=0.8)
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("x")
        ax.set_xlim(*x_range)
        ax.legend(fontsize="small")
    target = Path(path)
    try:
        figure.savefig(target, dpi=110)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write plot to {str(target)!r}: {exc}") from None
    return target

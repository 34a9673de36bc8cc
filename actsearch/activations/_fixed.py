"""Parameter-free element-wise activations that torch does not ship as modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn


class BinaryStep(nn.Module):
    r"""Heaviside step with an optional straight-through gradient.

    .. math:: f(x) = 1 \text{ if } x \ge \theta \text{ else } 0

    The true derivative is 0 almost everywhere, so a network of steps cannot learn. The
    straight-through estimator (Bengio et al. 2013) keeps the step in the forward pass and
    substitutes a surrogate gradient in the backward pass:

    - ``"clipped"`` (default): gradient 1 where ``|x - θ| <= 1``, else 0 (the derivative of
      ``hardtanh(x - θ)``; Hubara et al. 2016).
    - ``"identity"``: gradient 1 everywhere.
    - ``"none"``: the true gradient, 0.

    Args:
        threshold: θ, where the output switches from 0 to 1. Default: 0.
        straight_through: Which surrogate gradient to use. Default: ``"clipped"``.

    Shape: any; output has the input's shape.

    Example:
        >>> BinaryStep()(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 1., 1.])
    """

    def __init__(
        self,
        threshold: float = 0.0,
        straight_through: Literal["clipped", "identity", "none"] = "clipped",
    ) -> None:
        super().__init__()
        if straight_through not in ("clipped", "identity", "none"):
            raise ValueError(
                "straight_through must be 'clipped', 'identity' or 'none', "
                f"not {straight_through!r}"
            )
        self.threshold = float(threshold)
        self.straight_through = straight_through

    def forward(self, x: Tensor) -> Tensor:
        shifted = x - self.threshold
        step = (shifted >= 0).to(x.dtype)
        if self.straight_through == "none":
            return step + shifted * 0.0  # keeps the graph: the true gradient, zero
        surrogate = shifted.clamp(-1.0, 1.0) if self.straight_through == "clipped" else shifted
        # Adds exactly zero to the value, and the surrogate's gradient to the backward pass.
        return step + (surrogate - surrogate.detach())

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, straight_through={self.straight_through!r}"


class _Pointwise(nn.Module):
    """Base for fixed element-wise functions: subclasses set ``fn``."""

    fn: Callable[[Tensor], Tensor]

    def forward(self, x: Tensor) -> Tensor:
        return type(self).fn(x)


def _sinusoid(x: Tensor) -> Tensor:
    return torch.sin(x)


_SINC_SERIES = 1e-2


def _sinc(x: Tensor) -> Tensor:
    # Near 0, sin(x)/x and its autograd derivative (x cos x - sin x)/x² cancel catastrophically
    # (torch.sinc's gradient is 0 there); the series 1 - x²/6 + x⁴/120 is exact to float64.
    small = x.abs() < _SINC_SERIES
    x_safe = torch.where(small, torch.ones_like(x), x)
    x2 = x * x
    return torch.where(small, 1.0 - x2 / 6.0 * (1.0 - x2 / 20.0), torch.sin(x_safe) / x_safe)


def _gaussian(x: Tensor) -> Tensor:
    return torch.exp(-x.square())


def _bent_identity(x: Tensor) -> Tensor:
    # hypot avoids overflowing x² for large |x|.
    return (torch.hypot(x, torch.ones_like(x)) - 1.0) * 0.5 + x


def _arctan(x: Tensor) -> Tensor:
    return torch.atan(x)


def _squared_relu(x: Tensor) -> Tensor:
    return torch.relu(x).square()


class Sinusoid(_Pointwise):
    r"""Sine: :math:`f(x) = \sin(x)`. Periodic, bounded in [-1, 1]."""

    fn = staticmethod(_sinusoid)


class Sinc(_Pointwise):
    r"""Unnormalised sinc: :math:`f(x) = \sin(x)/x`, with :math:`f(0) = 1`.

    Value and gradient are exact and finite at and near 0.
    """

    fn = staticmethod(_sinc)


class Gaussian(_Pointwise):
    r"""Gaussian bump: :math:`f(x) = e^{-x^2}`. Radial, range (0, 1]."""

    fn = staticmethod(_gaussian)


class BentIdentity(_Pointwise):
    r"""Bent identity: :math:`f(x) = (\sqrt{x^2 + 1} - 1)/2 + x`."""

    fn = staticmethod(_bent_identity)


class Arctan(_Pointwise):
    r"""Inverse tangent: :math:`f(x) = \tan^{-1}(x)`, range :math:`(-\pi/2, \pi/2)`."""

    fn = staticmethod(_arctan)


class SquaredReLU(_Pointwise):
    r"""Squared ReLU (So et al. 2021, Primer): :math:`f(x) = \max(0, x)^2`."""

    fn = staticmethod(_squared_relu)


class FunctionActivation(nn.Module):
    """Wraps a tensor function as a module, as Keras accepts ``activation=K.tanh``.

    Args:
        fn: Maps a tensor to a tensor of the same shape.
    """

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))

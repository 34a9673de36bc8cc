"""Maxout (Goodfellow et al. 2013), the one catalogue function that is not element-wise."""

from __future__ import annotations

from torch import Tensor, nn


class Maxout(nn.Module):
    r"""Maximum over ``k`` linear pieces per unit: :math:`f(x)_i = \max_{j} z_{i,j}`.

    Maxout consumes ``k`` pre-activations per output unit, so the layer before it must be
    ``k`` times wider. Model builders ask :func:`width_factor` how wide to make it: a layer
    meant to have ``C`` units becomes ``Linear(in, C * k)`` (or ``Conv2d(in, C * k, ...)``)
    followed by ``Maxout(k)``, which returns ``C`` units. Pieces of one unit are adjacent
    along dimension 1: unit ``i`` takes inputs ``i*k .. i*k + k - 1``.

    Args:
        k: Number of pieces per unit. Default: 2.

    Shape:
        Input ``(N, C * k, *)``, output ``(N, C, *)``.
    """

    def __init__(self, k: int = 2) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        self.k = int(k)

    @property
    def width_factor(self) -> int:
        return self.k

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        if channels % self.k:
            raise ValueError(
                f"maxout with k={self.k} needs a multiple of {self.k} inputs on dim 1, got "
                f"{channels}: make the layer before width_factor(activation) times wider"
            )
        return x.view(x.shape[0], channels // self.k, self.k, *x.shape[2:]).amax(dim=2)

    def extra_repr(self) -> str:
        return f"k={self.k}"


def width_factor(module: nn.Module) -> int:
    """How many pre-activations per output unit ``module`` consumes (1 unless maxout-like).

    Any module may declare a ``width_factor`` attribute to be sized like maxout.
    """
    return int(getattr(module, "width_factor", 1))

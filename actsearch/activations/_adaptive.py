"""Activations with parameters, most of them learnable per channel.

Per-channel parameters follow ``nn.PReLU``: a vector of ``num_parameters`` values that
broadcasts over dimension 1 (features of an MLP, channels of a CNN); ``num_parameters=1``
shares one value across all units.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def per_channel(param: Tensor, x: Tensor) -> Tensor:
    """Reshape a ``(C,)`` parameter so it broadcasts over dimension 1 of ``x``."""
    if param.numel() == 1 or x.dim() < 2:
        return param
    return param.view(1, -1, *([1] * (x.dim() - 2)))


def _parameter(value: float, num_parameters: int, learnable: bool = True) -> Tensor:
    data = torch.full((num_parameters,), float(value))
    return nn.Parameter(data) if learnable else data


class Logistic(nn.Module):
    r"""Generalised logistic (seed 003): :math:`f(x) = L / (1 + e^{-k(x - x_0)})`.

    With ``L = k = 1, x0 = 0`` it equals the sigmoid.

    Args:
        L: Maximum value. Default: 1.
        k: Steepness. Default: 1.
        x0: Midpoint. Default: 0.
        learnable: Train ``L``, ``k`` and ``x0`` with the network. Default: False.
        num_parameters: 1 (shared) or the number of channels. Default: 1.
    """

    def __init__(
        self,
        L: float = 1.0,  # noqa: N803 - the name used by the formula
        k: float = 1.0,
        x0: float = 0.0,
        learnable: bool = False,
        num_parameters: int = 1,
    ) -> None:
        super().__init__()
        for name, value in (("L", L), ("k", k), ("x0", x0)):
            tensor = _parameter(value, num_parameters, learnable)
            if learnable:
                self.register_parameter(name, tensor)  # type: ignore[arg-type]
            else:
                self.register_buffer(name, tensor)
        self.learnable = learnable
        # Fixed curves skip the operations that are identities (the default is the sigmoid).
        self._fixed = None if learnable or num_parameters != 1 else (float(L), float(k), float(x0))

    def _curve(self) -> tuple[Tensor, Tensor, Tensor]:
        # Parameters or buffers, depending on ``learnable``; both are tensors.
        return self.L, self.k, self.x0  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        if self._fixed is not None:
            scale, steep, mid = self._fixed
            z = x if mid == 0.0 else x - mid
            y = torch.sigmoid(z if steep == 1.0 else z * steep)
            return y if scale == 1.0 else y * scale
        L, k, x0 = (per_channel(p, x) for p in self._curve())  # noqa: N806
        return L * torch.sigmoid(k * (x - x0))


class SwishBeta(nn.Module):
    r"""Swish with a learnable slope (Ramachandran et al. 2017): :math:`f(x) = x\,\sigma(\beta x)`.

    ``beta = 1`` is SiLU; ``beta → ∞`` approaches ReLU.

    Args:
        beta: Initial β. Default: 1.
        num_parameters: 1 (shared) or the number of channels. Default: 1.
    """

    def __init__(self, beta: float = 1.0, num_parameters: int = 1) -> None:
        super().__init__()
        self.beta = _parameter(beta, num_parameters)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(per_channel(self.beta, x) * x)


class SReLU(nn.Module):
    r"""S-shaped ReLU (Jin et al. 2016), learnable per channel.

    .. math::
        f(x) = \begin{cases} t_r + a_r (x - t_r) & x \ge t_r \\ x & t_l < x < t_r \\
               t_l + a_l (x - t_l) & x \le t_l \end{cases}

    Args:
        t_left, a_left, t_right, a_right: Initial thresholds and slopes.
            Defaults: -1, 0.1, 1, 1.
        num_parameters: 1 (shared) or the number of channels. Default: 1.
    """

    def __init__(
        self,
        t_left: float = -1.0,
        a_left: float = 0.1,
        t_right: float = 1.0,
        a_right: float = 1.0,
        num_parameters: int = 1,
    ) -> None:
        super().__init__()
        if t_left > t_right:
            raise ValueError(f"t_left ({t_left}) must not exceed t_right ({t_right})")
        self.t_left = _parameter(t_left, num_parameters)
        self.a_left = _parameter(a_left, num_parameters)
        self.t_right = _parameter(t_right, num_parameters)
        self.a_right = _parameter(a_right, num_parameters)

    def forward(self, x: Tensor) -> Tensor:
        tl, al, tr, ar = (
            per_channel(p, x) for p in (self.t_left, self.a_left, self.t_right, self.a_right)
        )
        # x + (a-1)·(x-t) on each outer piece, written with relus: one fused pass per side.
        return x + (ar - 1.0) * torch.relu(x - tr) - (al - 1.0) * torch.relu(tl - x)


class APL(nn.Module):
    r"""Adaptive piecewise linear unit (Agostinelli et al. 2014).

    .. math:: f(x) = \max(0, x) + \sum_{s=1}^{S} a_s \max(0, -x + b_s)

    Args:
        hinges: S, the number of hinges. Default: 2.
        a_init: Initial slope of every hinge. Default: 0.1.
        b_span: Hinge locations start evenly spaced in ``[-b_span, b_span]``. Default: 1.
        num_parameters: 1 (shared) or the number of units. Default: 1.
    """

    def __init__(
        self, hinges: int = 2, a_init: float = 0.1, b_span: float = 1.0, num_parameters: int = 1
    ) -> None:
        super().__init__()
        if hinges < 1:
            raise ValueError(f"hinges must be at least 1, not {hinges}")
        b = torch.linspace(-b_span, b_span, hinges) if hinges > 1 else torch.zeros(1)
        self.a = nn.Parameter(torch.full((hinges, num_parameters), float(a_init)))
        self.b = nn.Parameter(b.unsqueeze(1).repeat(1, num_parameters))

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(x)
        for a, b in zip(self.a, self.b, strict=True):
            out = out + per_channel(a, x) * torch.relu(per_channel(b, x) - x)
        return out


# Below |z| < _SERIES the closed forms lose precision (0/0 at 0); a short Taylor series is
# exact to float64 there and keeps the gradient in α continuous through α = 0.
_SERIES = 1e-4
# For α < 0 the function is defined only where 1 - α(x + α) > 0; within _EDGE of that boundary
# the logarithm is continued by its tangent, so the function stays finite and C¹ everywhere.
_EDGE = 1e-3


def _expm1_over(z: Tensor) -> Tensor:
    """(e^z - 1)/z, equal to 1 at z = 0."""
    small = z.abs() < _SERIES
    z_safe = torch.where(small, torch.ones_like(z), z)
    return torch.where(small, 1.0 + z * (0.5 + z / 6.0), torch.expm1(z_safe) / z_safe)


def _log1p_over(w: Tensor) -> Tensor:
    """ln(1 + w)/w, equal to 1 at w = 0, with ln continued linearly below w = -1 + _EDGE."""
    small = w.abs() < _SERIES
    edge = w < -1.0 + _EDGE
    w_safe = torch.where(small | edge, torch.ones_like(w), w)
    tangent = math.log(_EDGE) + (w - (-1.0 + _EDGE)) / _EDGE
    log1p = torch.where(edge, tangent, torch.log1p(w_safe))
    w_div = torch.where(small, torch.ones_like(w), w)
    return torch.where(small, 1.0 - w * (0.5 - w / 3.0), log1p / w_div)


class SoftExponential(nn.Module):
    r"""Soft exponential (Godfrey & Gashler 2015), interpolating log, identity and exp.

    .. math::
        f(\alpha, x) = \begin{cases} -\ln(1 - \alpha(x + \alpha)) / \alpha & \alpha < 0 \\
                       x & \alpha = 0 \\ (e^{\alpha x} - 1)/\alpha + \alpha & \alpha > 0 \end{cases}

    Computed as ``x·E(αx) + α`` and ``(x + α)·L(-α(x + α))`` with ``E(z) = expm1(z)/z`` and
    ``L(w) = log1p(w)/w``, so value and gradient are continuous through α = 0. For α < 0,
    inputs within 0.001 of the domain edge ``x = 1/α - α`` (or beyond it) follow the tangent of
    the logarithm there: finite and differentiable everywhere. For α > 0 the output grows
    exponentially, as the formula says.

    Args:
        alpha: Initial α (0 is the identity). Default: 0.
        num_parameters: 1 (shared) or the number of channels. Default: 1.
    """

    def __init__(self, alpha: float = 0.0, num_parameters: int = 1) -> None:
        super().__init__()
        self.alpha = _parameter(alpha, num_parameters)

    def forward(self, x: Tensor) -> Tensor:
        alpha = per_channel(self.alpha, x)
        if alpha.numel() == 1:  # shared α: compute only the branch its sign selects
            if bool(alpha.detach().reshape(()) >= 0):
                return self._grows(x, alpha)
            return self._shrinks(x, alpha)
        positive = alpha >= 0
        neg_alpha = torch.where(positive, -torch.ones_like(alpha), alpha)
        return torch.where(positive, self._grows(x, alpha), self._shrinks(x, neg_alpha))

    @staticmethod
    def _grows(x: Tensor, alpha: Tensor) -> Tensor:
        return x * _expm1_over(alpha * x) + alpha

    @staticmethod
    def _shrinks(x: Tensor, alpha: Tensor) -> Tensor:
        shifted = x + alpha
        return shifted * _log1p_over(-alpha * shifted)


# Safe Padé (5, 4) coefficients fitted to leaky_relu(0.01) on [-3, 3] by
# actsearch.activations._rational_fit.fit_rational (max abs error 0.033 there; a test checks
# that these constants still are that fit).
_LEAKY_RELU_NUMERATOR = (0.0332077, 0.5211919, 1.7105985, 2.0617839, 0.94598, 0.153243)
_LEAKY_RELU_DENOMINATOR = (0.102478, 4.0005675, 0.0184485, 0.3033635)


class Rational(nn.Module):
    r"""Learnable rational (Padé) activation unit, safe form (Molina et al. 2020).

    .. math:: f(x) = \frac{\sum_{j=0}^{m} a_j x^j}{1 + \sum_{k=1}^{n} |b_k|\,|x|^k}

    The denominator is at least 1, so there are no poles. Coefficients are shared by the
    layer and start as a fit of leaky ReLU, so the unit begins as a known-good function and
    learns its shape. Outputs grow like ``x^(m-n)`` for large ``|x|``.

    Args:
        numerator: Initial ``a_0..a_m``. Default: the (5, 4) leaky ReLU fit.
        denominator: Initial ``b_1..b_n``. Default: the (5, 4) leaky ReLU fit.
    """

    def __init__(
        self,
        numerator: tuple[float, ...] = _LEAKY_RELU_NUMERATOR,
        denominator: tuple[float, ...] = _LEAKY_RELU_DENOMINATOR,
    ) -> None:
        super().__init__()
        if len(numerator) < 1 or len(denominator) < 1:
            raise ValueError("numerator and denominator need at least one coefficient each")
        self.numerator = nn.Parameter(torch.tensor(numerator, dtype=torch.get_default_dtype()))
        self.denominator = nn.Parameter(torch.tensor(denominator, dtype=torch.get_default_dtype()))

    def forward(self, x: Tensor) -> Tensor:
        a = self.numerator.to(x.dtype)
        b = self.denominator.to(x.dtype).abs()
        # Horner's scheme: one multiply-add per coefficient.
        p = a[-1].expand_as(x)
        for coef in a.flip(0)[1:]:
            p = p * x + coef
        ax = x.abs()
        q = b[-1] * ax
        for coef in b.flip(0)[1:]:
            q = (q + coef) * ax
        return p / (q + 1.0)

"""Independent float64 numpy references of every element-wise catalogue function.

Written from the published formulas (each function's paper), not from the modules: a test that
compares a module with these catches a wrong formula, a wrong default or a precision bug.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Array = np.ndarray
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
_erf = np.vectorize(math.erf, otypes=[float])


def sigmoid(x: Array) -> Array:
    # Split by sign so neither branch overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def tanh(x: Array) -> Array:
    t = np.exp(-2.0 * np.abs(x))
    return np.sign(x) * (1.0 - t) / (1.0 + t)


def softplus(x: Array) -> Array:
    return np.logaddexp(0.0, x)


def relu(x: Array) -> Array:
    return np.maximum(0.0, x)


def leaky(slope: float) -> Callable[[Array], Array]:
    return lambda x: np.where(x >= 0, x, slope * x)


def soft_exponential(x: Array, alpha: float) -> Array:
    """The three-branch formula; for α < 0 beyond the edge, the documented tangent."""
    if alpha == 0:
        return x.copy()
    if alpha > 0:  # expm1/log1p: the same formula without cancellation for tiny α
        return np.expm1(alpha * x) / alpha + alpha
    w = -alpha * (x + alpha)  # the argument of ln is 1 + w
    edge = -1.0 + 1e-3
    log = np.where(w >= edge, np.log1p(np.maximum(w, edge)), math.log(1e-3) + (w - edge) / 1e-3)
    return -log / alpha


def srelu(x: Array, tl: float = -1.0, al: float = 0.1, tr: float = 1.0, ar: float = 1.0) -> Array:
    return np.where(x >= tr, tr + ar * (x - tr), np.where(x <= tl, tl + al * (x - tl), x))


def apl(x: Array, a: tuple[float, ...] = (0.1, 0.1), b: tuple[float, ...] = (-1.0, 1.0)) -> Array:
    out = relu(x)
    for a_s, b_s in zip(a, b, strict=True):
        out = out + a_s * np.maximum(0.0, -x + b_s)
    return out


def rational(x: Array, numerator: tuple[float, ...], denominator: tuple[float, ...]) -> Array:
    p = sum(c * x**j for j, c in enumerate(numerator))
    q = 1.0 + sum(abs(c) * np.abs(x) ** (k + 1) for k, c in enumerate(denominator))
    return p / q


def sinc(x: Array) -> Array:
    safe = np.where(x == 0, 1.0, x)
    return np.where(x == 0, 1.0, np.sin(safe) / safe)


def gelu(x: Array) -> Array:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x: Array) -> Array:
    return 0.5 * x * (1.0 + tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def shrink(lambd: float, soft: bool) -> Callable[[Array], Array]:
    if soft:
        return lambda x: np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0))
    return lambda x: np.where(np.abs(x) > lambd, x, 0.0)


REFERENCES: dict[str, Callable[[Array], Array]] = {
    "identity": lambda x: x.copy(),
    "binary_step": lambda x: (x >= 0).astype(float),
    "sigmoid": sigmoid,
    "logistic": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky(0.01),
    "prelu": leaky(0.25),
    "rrelu": leaky((1.0 / 8.0 + 1.0 / 3.0) / 2.0),
    "softplus": softplus,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "srelu": srelu,
    "apl": apl,
    "arctan": np.arctan,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "bent_identity": lambda x: (np.sqrt(x**2 + 1.0) - 1.0) / 2.0 + x,
    "soft_exponential": lambda x: soft_exponential(x, 0.0),
    "sinusoid": np.sin,
    "sinc": sinc,
    "gaussian": lambda x: np.exp(-(x**2)),
    "gelu": gelu,
    "gelu_tanh": gelu_tanh,
    "silu": lambda x: x * sigmoid(x),
    "swish_beta": lambda x: x * sigmoid(x),
    "mish": lambda x: x * tanh(softplus(x)),
    "selu": lambda x: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "celu": lambda x: np.maximum(0.0, x) + np.minimum(0.0, np.expm1(np.minimum(x, 0.0))),
    "hardswish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hardsigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hardtanh": lambda x: np.clip(x, -1.0, 1.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "log_sigmoid": lambda x: -softplus(-x),
    "tanhshrink": lambda x: x - tanh(x),
    "softshrink": shrink(0.5, soft=True),
    "hardshrink": shrink(0.5, soft=False),
    "squared_relu": lambda x: relu(x) ** 2,
}

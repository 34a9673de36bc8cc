"""Random composite activations ``b(u1(x), u2(x))`` for searches that discover functions.

The unary and binary operators are those of Ramachandran, Zoph and Le (2017). Every sample is
returned as a formula string (readable, storable as an Optuna categorical choice) that has
been compiled and checked: finite forward and backward on ``|x| <= 1e4`` in float32 (``|x| <= 10``
when unsafe operators are allowed), and not affine on ``[-3, 3]``.
"""

from __future__ import annotations

import random

import torch

from actsearch.activations._formula import Formula
from actsearch.errors import InvalidFormulaError

EPS = "1e-6"

# Operators that overflow float32 for moderate inputs (exp(89) = inf) or have poles; left out
# of "safe" sampling, which is what searches use by default.
UNSAFE_UNARY = ("exp(x)", "sinh(x)", "cosh(x)")
UNSAFE_BINARY = ("({a}) / (({b}) + " + EPS + ")",)

UNARY = (
    "x", "-x", "abs(x)", "x**2", "x**3", f"sqrt(abs(x) + {EPS})", "beta * x", "x + beta",
    f"log(abs(x) + {EPS})", "sin(x)", "cos(x)", "tanh(x)", "asinh(x)", "atan(x)", "sinc(x)",
    "max(x, 0)", "min(x, 0)", "sigmoid(x)", "softplus(x)", "exp(-x**2)", "erf(x)", "beta",
    *UNSAFE_UNARY,
)

BINARY = (
    "{a} + {b}", "({a}) * ({b})", "{a} - ({b})", "max({a}, {b})", "min({a}, {b})",
    "sigmoid({a}) * ({b})", "exp(-beta * (({a}) - ({b}))**2)", "exp(-beta * abs(({a}) - ({b})))",
    "beta * ({a}) + (1 - beta) * ({b})",
    *UNSAFE_BINARY,
)

_PROBE_CORE = torch.linspace(-3.0, 3.0, 601)


def is_well_behaved(expression: str, limit: float = 1e4) -> bool:
    """Finite value and gradient on ``|x| <= limit`` (float32) and not constant on [-3, 3]."""
    module = Formula(expression)
    x = torch.cat([torch.linspace(-limit, limit, 401), _PROBE_CORE]).requires_grad_(True)
    y = module(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    if not (torch.isfinite(y).all() and torch.isfinite(grad).all()):
        return False
    core = y[401:].detach().double()
    # Not constant, and not affine either: an affine "activation" adds no non-linearity.
    design = torch.stack([torch.ones_like(core), _PROBE_CORE.double()], dim=1)
    residual = core - design @ torch.linalg.lstsq(design, core.unsqueeze(1)).solution.squeeze(1)
    return bool(core.std() > 1e-3 and residual.std() > 1e-3)


def sample_formula(rng: random.Random, *, safe: bool = True) -> str:
    """Draw one well-behaved composite ``b(u1(x), u2(x))`` from ``rng``."""
    unary = [u for u in UNARY if not (safe and u in UNSAFE_UNARY)]
    binary = [b for b in BINARY if not (safe and b in UNSAFE_BINARY)]
    while True:
        u1, u2 = rng.choice(unary), rng.choice(unary)
        candidate = rng.choice(binary).format(a=u1, b=u2)
        try:
            # Unsafe operators overflow for large |x| by nature: check them where
            # pre-activations usually live instead.
            if is_well_behaved(candidate, limit=1e4 if safe else 10.0):
                return candidate
        except InvalidFormulaError:  # e.g. max(beta, beta): no x left
            continue


def sample_formulas(n: int, seed: int = 0, *, safe: bool = True) -> list[str]:
    """``n`` distinct well-behaved composites, the same list for the same seed."""
    rng = random.Random(seed)
    found: list[str] = []
    while len(found) < n:
        candidate = sample_formula(rng, safe=safe)
        if candidate not in found:
            found.append(candidate)
    return found

"""The composite-function sampler: seeded, well-formed, well-behaved."""

from __future__ import annotations

import random
import re

import torch

from actsearch import activations
from actsearch.activations._formula import parse_formula
from actsearch.activations._sampler import BINARY, UNARY, UNSAFE_UNARY


def test_same_seed_same_formulas_other_seed_other_formulas() -> None:
    first = activations.sample_formulas(12, seed=7)
    assert first == activations.sample_formulas(12, seed=7)
    assert first != activations.sample_formulas(12, seed=8)
    assert len(set(first)) == 12


def test_samples_parse_and_stay_finite_with_gradients() -> None:
    x = torch.cat([torch.linspace(-1e4, 1e4, 2001), torch.linspace(-5, 5, 1001)])
    for expression in activations.sample_formulas(40, seed=0):
        parse_formula(expression)
        module = activations.create(expression)
        xs = x.clone().requires_grad_(True)
        y = module(xs)
        (grad,) = torch.autograd.grad(y.sum(), xs)
        assert torch.isfinite(y).all() and torch.isfinite(grad).all(), expression
        assert y[2001:].std() > 1e-3, f"{expression} is constant"


def test_safe_sampling_leaves_out_overflowing_operators() -> None:
    drawn = " ".join(activations.sample_formulas(60, seed=3))
    for unsafe in (r"\bexp\(x\)", r"\bsinh\(", r"\bcosh\("):
        assert not re.search(unsafe, drawn)
    unrestricted = " ".join(activations.sample_formulas(200, seed=3, safe=False))
    assert re.search(r"\b(exp\(x\)|sinh\(|cosh\()", unrestricted)


def test_every_operator_of_the_paper_is_expressible() -> None:
    for unary in UNARY:
        if unary not in UNSAFE_UNARY:
            activations.create(unary if "x" in unary else f"x + {unary}")
    for binary in BINARY:
        activations.create(binary.format(a="x", b="sin(x)"))


def test_sample_formula_uses_the_given_rng() -> None:
    a = activations.sample_formula(random.Random(5))
    b = activations.sample_formula(random.Random(5))
    assert a == b

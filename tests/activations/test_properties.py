"""The catalogue's claimed properties, checked numerically at default parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from actsearch import activations
from tests.activations.conftest import elementwise_names

WIDE = np.unique(np.concatenate([
    np.linspace(-1e4, 1e4, 20001), np.linspace(-30, 30, 60001), [-1e-9, 0.0, 1e-9],
]))


def _values(name: str, x: np.ndarray) -> np.ndarray:
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        module = activations.create(name).double().eval()
    finally:
        torch.set_default_dtype(default)
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", elementwise_names())
def test_claimed_range_contains_outputs_and_finite_ends_are_reached(name: str) -> None:
    info = activations.info(name)
    assert info.range is not None
    low, high = info.range
    y = _values(name, WIDE)
    assert y.min() >= low - 1e-12, f"{name} goes below {low}: {y.min()}"
    assert y.max() <= high + 1e-12, f"{name} goes above {high}: {y.max()}"
    if not info.learnable:  # a learnable unit's range is the bound over its parameters
        if math.isfinite(low):
            assert y.min() <= low + 1e-3, f"{name} never comes near {low}"
        if math.isfinite(high):
            assert y.max() >= high - 1e-3, f"{name} never comes near {high}"


@pytest.mark.parametrize("name", elementwise_names())
def test_claimed_monotonicity(name: str) -> None:
    steps = np.diff(_values(name, WIDE))
    non_decreasing = bool((steps >= -1e-12).all())
    assert non_decreasing == activations.info(name).monotonic, (
        f"{name}: non-decreasing={non_decreasing}, min step {steps.min():.3g}"
    )


@pytest.mark.parametrize("name", elementwise_names())
def test_claimed_zero_centring(name: str) -> None:
    # E[f(Z)], Z ~ N(0, 1), by Gauss–Hermite quadrature (exact for polynomials of degree 239).
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    mean = float((_values(name, nodes) * weights).sum() / weights.sum())
    assert (abs(mean) <= 0.1) == activations.info(name).zero_centered, f"{name}: E[f(Z)]={mean}"


@pytest.mark.parametrize("name", elementwise_names())
def test_claimed_smoothness(name: str) -> None:
    # Finite-difference slopes on a fine grid: for a C¹ function neighbouring slopes differ by
    # at most max|f''|·h (< 1e-4 here); a kink or a jump makes them differ by ~its size.
    h = 1e-5
    x = np.arange(-8.0, 8.0, h)
    slopes = np.diff(_values(name, x)) / h
    largest_change = np.abs(np.diff(slopes)).max()
    smooth = bool(largest_change < 1e-3)
    assert smooth == activations.info(name).smooth, f"{name}: slope jump {largest_change:.3g}"


def test_every_function_states_its_properties() -> None:
    for name in activations.names():
        info = activations.info(name)
        assert info.formula and info.latex and info.reference and info.description, name
        assert None not in (info.range, info.monotonic, info.smooth, info.zero_centered), name

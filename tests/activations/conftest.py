from __future__ import annotations

import numpy as np
import pytest
import torch

from actsearch import activations


def elementwise_names() -> list[str]:
    return [n for n in activations.names() if activations.info(n).elementwise]


@pytest.fixture
def probe_points() -> np.ndarray:
    """Points around 0, across the usual range, and at large |x| (up to 1e4)."""
    tiny = np.array([1e-12, 1e-8, 1e-6, 1e-4, 1e-2])
    large = np.array([20.0, 30.0, 50.0, 100.0, 1e3, 1e4])
    rng = np.random.default_rng(0)
    grid = np.linspace(-12.0, 12.0, 2401)
    points = np.concatenate([[0.0], tiny, -tiny, large, -large, grid, rng.normal(0, 3, 500)])
    return np.unique(points)


def as_module_input(points: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(points).to(dtype)

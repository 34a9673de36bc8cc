"""Every catalogue function trains in every hidden layer of a small MLP (maxout included)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from actsearch import activations
from actsearch.train.models import MLP, MLPConfig, hidden_activations


def _blobs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=g) * 2
    y = torch.arange(192) % 3
    x = centres[y] + 0.7 * torch.randn(192, 8, generator=g)
    return x, y


@pytest.mark.parametrize("name", activations.names())
def test_trains_in_every_hidden_layer(name: str) -> None:
    torch.manual_seed(0)
    config = MLPConfig(in_features=8, out_features=3, hidden=(16, 16, 16),
                       activations=(name, name, name))
    model = MLP(config)
    assert len(hidden_activations(model)) == 3
    assert all(isinstance(a, type(activations.create(name))) for a in hidden_activations(model))
    x, y = _blobs()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))), name
    assert min(losses[-5:]) < losses[0], f"{name} did not learn: {losses[0]:.3f} -> {losses[-1]}"


def test_maxout_layer_is_widened_by_its_width_factor() -> None:
    config = MLPConfig(in_features=8, out_features=3, hidden=(16, 10),
                       activations=("maxout", "relu"), activation_params=({"k": 4}, {}))
    model = MLP(config)
    first, second = model.blocks
    assert first.layer.out_features == 64  # 16 units x 4 pieces
    assert second.layer.in_features == 16
    assert second.layer.out_features == 10
    assert model(torch.randn(5, 8)).shape == (5, 3)


def test_mixed_activations_per_layer_including_formulas() -> None:
    config = MLPConfig(in_features=4, out_features=1, hidden=(8, 8, 8),
                       activations=("prelu", "x * sigmoid(beta * x)", "maxout"))
    model = MLP(config)
    kinds = [type(a).__name__ for a in hidden_activations(model)]
    assert kinds == ["PReLU", "Formula", "Maxout"]
    assert model(torch.randn(3, 4)).shape == (3, 1)

"""Taking a trained network away: files that run without actsearch.

:func:`export_network` trains a configuration on the training split and writes

- ``model.pt2``: the network behind the training split's standardisation, saved with
  ``torch.export`` (it loads with torch alone: ``torch.export.load(path).module()``). It takes
  raw feature rows, as the user's file has them, and returns class probabilities (one column
  per class, in ``config.json``'s ``classes`` order; one column, the positive class, for a
  binary task) or the prediction in the target's units;
- ``model_state.pt``: the bare network's ``state_dict`` (standardised inputs);
- ``config.json``: the network (with the initialisation rule it trained with, ``init``, and
  each layer's in words), the training configuration, the standardisation, the label names
  and the scores;
- ``rebuild.py``: a snippet that rebuilds the bare network with ``actsearch.build_model``,
  initialised by the same rule (it matters when the network is retrained).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from actsearch.activations import create, init_rule
from actsearch.train.data import Dataset
from actsearch.train.loop import TrainConfig, train
from actsearch.train.models import CNNConfig, MLPConfig

REBUILD = '''"""Rebuild the exported network with actsearch (model.pt2 needs torch alone)."""
import json

import torch

from actsearch import MLPConfig, build_model

config = json.load(open("config.json"))
# config["model"]["init"] is the initialisation the search trained with ("activation": each
# layer drawn for the activation after it; "torch": PyTorch's defaults), so a network built
# here to be retrained starts as the searched one did; config["initialisation"] says how.
model = build_model(MLPConfig(**config["model"]))
model.load_state_dict(torch.load("model_state.pt"))
model.eval()
# It takes standardised rows: (raw - mean) / std with config["standardisation"].
'''


class RawInputNetwork(nn.Module):
    """A trained network that takes raw feature rows and answers in the task's terms."""

    def __init__(self, network: nn.Module, data: Dataset) -> None:
        super().__init__()
        self.network = network
        self.mean: Tensor
        self.std: Tensor
        self.register_buffer("mean", torch.tensor(data.x_mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(data.x_std, dtype=torch.float32))
        self.task = data.task
        self.y_mean, self.y_std = data.y_mean, data.y_std

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.network((x - self.mean) / self.std)
        if self.task == "multiclass":
            return torch.softmax(out, dim=1)
        if self.task == "binary":
            return torch.sigmoid(out)
        return out * self.y_std + self.y_mean


def initialisation(model: MLPConfig) -> list[str]:
    """How each hidden layer was initialised, in words (for config.json's readers)."""
    if model.init == "torch":
        return ["PyTorch's default"] * len(model.activations)
    params = model.activation_params or ({},) * len(model.activations)
    return [init_rule(name).describe(create(name, **dict(p)))
            for name, p in zip(model.activations, params, strict=True)]


@dataclass(frozen=True)
class Exported:
    """What was written, and the network as trained (for checks beside the files)."""

    directory: Path
    files: tuple[Path, ...]
    network: RawInputNetwork
    val: float
    test: float


def export_network(config: TrainConfig, data: Dataset, directory: Path,
                   about: dict[str, Any]) -> Exported:
    """Train ``config`` on ``data``'s training split and write the files of the module
    docstring into ``directory`` (created if needed).

    Args:
        about: Recorded in ``config.json`` as is (where the configuration comes from).

    Raises:
        ValueError: ``config`` is a CNN (images have no raw-row form to export).
    """
    if isinstance(config.model, CNNConfig):
        raise ValueError("only MLPs export to raw-row models; a CNN's state_dict is in "
                         "model_state.pt")
    trainer, _ = train(config, data, device="cpu")
    network = trainer.model.eval()
    wrapped = RawInputNetwork(network, data).eval()
    directory.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, data.n_features)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(wrapped, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, directory / "model.pt2")
    torch.save(network.state_dict(), directory / "model_state.pt")
    val, test = trainer.score("val"), trainer.score("test")
    model = asdict(config.model)
    body = {
        "dataset": data.name, "task": data.task, "metric": data.metric,
        "classes": list(data.classes), "features": data.n_features,
        "outputs": ("probability of each class" if data.task == "multiclass" else
                    f"probability of class {data.classes[-1]!r}" if data.task == "binary"
                    else "the prediction, in the target's units"),
        "model": {**model, "activation_params": [dict(p) for p in model["activation_params"]]},
        "initialisation": initialisation(config.model),
        "training": {k: v for k, v in asdict(config).items() if k != "model"},
        "standardisation": {"mean": list(data.x_mean), "std": list(data.x_std),
                            "target_mean": data.y_mean, "target_std": data.y_std},
        "scores": {"validation": val, "test": test}, **about,
    }
    (directory / "config.json").write_text(json.dumps(body, indent=2) + "\n")
    (directory / "rebuild.py").write_text(REBUILD)
    files = tuple(directory / n for n in ("model.pt2", "model_state.pt", "config.json",
                                          "rebuild.py"))
    return Exported(directory, files, wrapped, val, test)

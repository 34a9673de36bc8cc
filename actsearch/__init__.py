"""actsearch: which activation function, layer by layer, and which hyperparameters suit a dataset.

The Python API (imported on first use, so ``import actsearch`` stays cheap)::

    import actsearch

    result = actsearch.run_search(actsearch.SearchOptions(dataset="wine", trials=40))
    rec = actsearch.recommendation("wine")          # what to use, and how sure that is
    actsearch.export("wine", pathlib.Path("wine-model"))   # the network, to take away
    net = actsearch.build_model(actsearch.MLPConfig(
        in_features=13, out_features=3, hidden=(64, 64), activations=("gelu", "mish")))
    act = actsearch.activations.create("swish_beta")
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("actsearch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

# name -> (module, attribute): resolved on first use (PEP 562).
_API = {
    "run_search": ("actsearch.service", "run_search"),
    "SearchOptions": ("actsearch.service", "SearchOptions"),
    "confirm": ("actsearch.service", "confirm"),
    "ConfirmOptions": ("actsearch.service", "ConfirmOptions"),
    "recommendation": ("actsearch.service", "recommend_dataset"),
    "export": ("actsearch.service", "export_to"),
    "build_model": ("actsearch.train.models", "build_model"),
    "MLPConfig": ("actsearch.train.models", "MLPConfig"),
    "CNNConfig": ("actsearch.train.models", "CNNConfig"),
}

__all__ = ["__version__", "activations", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attribute = _API[name]
        return getattr(import_module(module), attribute)
    if name == "activations":
        return import_module("actsearch.activations")
    raise AttributeError(f"module 'actsearch' has no attribute {name!r}")

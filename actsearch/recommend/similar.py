"""Recommendations for datasets never searched: the nearest known datasets by meta-features.

Known datasets are those studied in the user's storage plus the shipped knowledge base
(:mod:`actsearch.recommend.knowledge`); a dataset in both is answered from the user's studies.
Distance is Euclidean over log sample count, log feature count, log class count and class
balance; a different task type (classification vs regression) adds a large penalty, since
an answer for one says little about the other.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from optuna.storages import RDBStorage

from actsearch.errors import UsageError
from actsearch.recommend.knowledge import KnowledgeEntry, fits, load_knowledge, params_for_space
from actsearch.recommend.recommendation import Recommendation, recommend
from actsearch.recommend.stats import verdict_word
from actsearch.search.options import WarmStart
from actsearch.search.spaces import SearchSpace
from actsearch.store.studies import all_studies
from actsearch.train.data import Dataset, infer_task, meta_features

TASK_PENALTY = 10.0


@dataclass(frozen=True)
class Similar:
    dataset: str
    distance: float
    meta: dict[str, Any]
    recommendation: Recommendation


@dataclass(frozen=True)
class Evidence:
    """How the per-layer search fared against tuned ReLU on the neighbours."""

    better: int
    equivalent: int
    undecided: int
    worse: int
    unconfirmed: int

    def sentence(self) -> str:
        judged = self.better + self.equivalent + self.undecided + self.worse
        if not judged:
            return "no neighbour has been confirmed against tuned ReLU yet"
        return (f"on {judged} confirmed neighbours, per-layer search beat tuned ReLU on "
                f"{self.better}, was practically equivalent on {self.equivalent}, undecided "
                f"on {self.undecided} and lost on {self.worse}")


@dataclass(frozen=True)
class UnseenAnswer:
    """What to try on a dataset never searched, and why."""

    query: dict[str, Any]
    recommendation: Recommendation
    neighbours: list[Similar]
    evidence: Evidence

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "recommendation": self.recommendation.to_dict(),
                "neighbours": [{"dataset": s.dataset, "distance": s.distance, "meta": s.meta,
                                "recommendation": s.recommendation.to_dict()}
                               for s in self.neighbours],
                "evidence": {**asdict(self.evidence), "summary": self.evidence.sentence()}}


def _vector(meta: dict[str, Any]) -> np.ndarray:
    return np.array([math.log10(max(1, meta["samples"])), math.log10(max(1, meta["features"])),
                     math.log10(max(1, meta.get("classes", 1))),
                     float(meta.get("class_balance", 1.0))])


def _kind(task: str) -> str:
    return "regression" if task == "regression" else "classification"


def meta_distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    distance = float(np.linalg.norm(_vector(a) - _vector(b)))
    return distance + (0.0 if _kind(a["task"]) == _kind(b["task"]) else TASK_PENALTY)


def studied_with_fingerprint(storage: RDBStorage, fingerprint: str) -> str | None:
    """The studied dataset whose data has this fingerprint, if any."""
    return next((s.dataset for s in all_studies(storage)
                 if s.dataset and s.meta.get("fingerprint") == fingerprint), None)


def studied_meta(storage: RDBStorage) -> dict[str, dict[str, Any]]:
    """Meta-features of every studied dataset (one query, no trials loaded)."""
    return {s.dataset: s.meta["meta"] for s in all_studies(storage)
            if s.dataset and s.meta.get("meta")}


def similar_datasets(storage: RDBStorage | None, meta: dict[str, Any], k: int = 3,
                     exclude: set[str] | None = None,
                     knowledge: Sequence[KnowledgeEntry] | None = None) -> list[Similar]:
    """The ``k`` nearest known datasets that have a recommendation, nearest first.

    Args:
        storage: The user's studies (``None``: the knowledge base alone).
        meta: The query's meta-features.
        k: How many.
        exclude: Dataset names to leave out.
        knowledge: Knowledge-base entries (default: the shipped knowledge base).
    """
    skip = exclude or set()
    studied = studied_meta(storage) if storage is not None else {}
    entries = {e.dataset: e for e in (load_knowledge() if knowledge is None else knowledge)
               if e.dataset not in studied}
    known = {**studied, **{name: e.meta for name, e in entries.items()}}
    ranked = sorted((meta_distance(meta, m), name, m) for name, m in known.items()
                    if name not in skip)
    found = []
    for distance, name, m in ranked:
        if name in entries:
            rec = entries[name].recommendation
        else:
            assert storage is not None
            try:
                rec = recommend(storage, name)
            except UsageError:  # studied, but nothing completed yet
                continue
        found.append(Similar(name, round(distance, 4), m, rec))
        if len(found) == k:
            break
    return found


def evidence(neighbours: Sequence[Similar]) -> Evidence:
    counts: Counter[str] = Counter()
    for s in neighbours:
        counts[verdict_word(s.recommendation.verdicts.get("tuned_relu"))] += 1
    return Evidence(counts["better"], counts["equivalent"], counts["undecided"],
                    counts["worse"], counts["unconfirmed"])


def answer_unseen(storage: RDBStorage | None, meta: dict[str, Any], k: int = 5,
                  exclude: set[str] | None = None) -> UnseenAnswer:
    """The nearest known dataset's recommendation, the neighbours and their evidence.

    Raises:
        UsageError: Nothing is known: no study in the storage and no knowledge base.
    """
    neighbours = similar_datasets(storage, meta, k=k, exclude=exclude)
    if not neighbours:
        raise UsageError("no studied dataset and no knowledge base to compare with: run "
                         "`actsearch search` on a dataset first")
    return UnseenAnswer(query=meta, recommendation=neighbours[0].recommendation,
                        neighbours=neighbours, evidence=evidence(neighbours))


def known_recommendation(storage: RDBStorage | None, dataset: str) -> Recommendation:
    """The recommendation of a dataset by name: from the user's studies, else the shipped
    knowledge base.

    Raises:
        UsageError: Neither knows the dataset.
    """
    if storage is not None:
        try:
            return recommend(storage, dataset)
        except UsageError:
            entry = next((e for e in load_knowledge() if e.dataset == dataset), None)
            if entry is None:
                raise
            return entry.recommendation
    entry = next((e for e in load_knowledge() if e.dataset == dataset), None)
    if entry is None:
        raise UsageError(f"no study of dataset {dataset!r} and no knowledge-base entry: run "
                         f"`actsearch search --dataset {dataset}` first, or pass --data FILE")
    return entry.recommendation


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
        raise UsageError(f"the CSV sample has no column {target!r}"[:300])
    if frame[target].isna().any():
        raise UsageError(f"the CSV sample's target column {target!r} has empty cells: fill or "
                         "drop those rows"[:300])
    y = frame[target].to_numpy()
    x = frame.drop(columns=[target])
    task = infer_task(y)
    codes = y if task == "regression" else np.unique(y, return_inverse=True)[1]
    return meta_features(x.to_numpy(), codes, task)


def warm_starts(storage: RDBStorage, data: Dataset, space: SearchSpace,
                knowledge: Sequence[KnowledgeEntry] | None = None,
                wanted: int = 3) -> list[WarmStart]:
    """The best configurations of the most similar known datasets, nearest first, that fit
    ``space`` (the studies in ``storage`` and the knowledge base), at most ``wanted``."""
    found: list[WarmStart] = []
    for similar in similar_datasets(storage, data.meta, k=50, exclude={data.name},
                                    knowledge=knowledge):
        rec = similar.recommendation
        params = params_for_space(rec.params, len(rec.activations), space)
        if fits(space, params, data):
            found.append(WarmStart(params, similar.dataset))
            if len(found) == wanted:
                break
    return found

"""The corpus protocol: on every KEEL table, the per-layer search against its tuned baselines.

Per table, at one budget (trials, epochs, seeds), in one Ray session:

1. the per-layer search (the shipped ``default`` space unless told otherwise);
2. ``confirm``: the tuned-ReLU and uniform baselines with the same budget, every side's top
   configurations retrained over the seeds, the verdicts (:mod:`actsearch.recommend.confirm`);
3. an A/A calibration: a second tuned-ReLU search with another seed, confirmed the same way
   and compared with the first. Both are the same procedure, so the share of tables where
   they are called different must stay near alpha; far above it, the statistics are wrong.

Each table's outcome is written to ``OUT/corpus/NAME.json`` as it ends, and the studies live in
the corpus storage: re-running skips finished tables and resumes unfinished studies.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actsearch.errors import UsageError
from actsearch.recommend.confirm import (
    ConfirmOptions,
    confirm_study,
    retrain_jobs,
    study_inputs,
    train_jobs,
)
from actsearch.recommend.recommendation import Confirmed, confirmed_best
from actsearch.search.baselines import baseline_space
from actsearch.search.driver import Search
from actsearch.search.options import SearchOptions
from actsearch.search.spaces import SearchSpace, load_space
from actsearch.search.workers import RaySession
from actsearch.service.searches import search_hooks
from actsearch.store.database import open_storage
from actsearch.store.studies import find_study, study_meta
from actsearch.train.data import CORPUS_PREFIX, load_dataset
from actsearch.train.keel import RESERVED, corpus_names

AA_KIND = "aa_tuned_relu"


@dataclass(frozen=True)
class CorpusOptions:
    """The budget and where results go (``actsearch corpus run``)."""

    trials: int = 16
    epochs: int = 15
    seeds: int = 3
    top_k: int = 2
    workers: int = 2
    space: str = "default"
    storage_url: str = "sqlite:///corpus.db"
    out: Path = Path("benchmarks/results")
    datasets: tuple[str, ...] = ()

    @property
    def per_table_dir(self) -> Path:
        return self.out / "corpus"


@dataclass
class TableResult:
    """One table's outcome (what ``corpus.md`` and the knowledge base are made from)."""

    name: str
    dataset: str
    study: str  # the per-layer search; its baselines are STUDY--tuned-relu, STUDY--uniform
    meta: dict[str, Any]
    metric: str
    side: str
    activations: list[str]
    params: dict[str, Any]
    space_spec: dict[str, Any]
    verdicts: dict[str, str]
    # Per side ("search", "tuned_relu", "uniform"): test mean, std, n, validation mean.
    sides: dict[str, dict[str, float]]
    comparisons: dict[str, dict[str, Any]]
    aa: dict[str, Any]
    ablation: dict[str, Any] | None
    seconds: float
    budget: dict[str, int] = field(default_factory=dict)
    recommendation: dict[str, Any] = field(default_factory=dict)  # Recommendation.to_dict()


def _check(options: CorpusOptions) -> list[str]:
    names = corpus_names()
    chosen = list(options.datasets) or names
    for name in chosen:
        if name in RESERVED:
            raise UsageError(f"table {name!r} is reserved for outside evaluation: the corpus "
                             "never uses it")
        if name not in names:
            raise UsageError(f"unknown corpus table {name!r}: see `actsearch corpus list`")
    for label, value, low in (("--trials", options.trials, 1), ("--epochs", options.epochs, 1),
                              ("--seeds", options.seeds, 2), ("--top-k", options.top_k, 1),
                              ("--workers", options.workers, 1)):
        if value < low:
            raise UsageError(f"{label} must be at least {low}, not {value}")
    load_space(options.space)  # a bad space fails here, before anything is written
    return chosen


def run_corpus(options: CorpusOptions,
               on_event: Callable[[str], None] | None = None) -> list[TableResult]:
    """Run the protocol on every table not done yet; return every table's result."""
    say = on_event or (lambda _: None)
    chosen = _check(options)
    each_table(options, options.per_table_dir, chosen,
               lambda name: run_table(name, options, say), say)
    return load_results(options.per_table_dir, chosen)


def each_table(options: CorpusOptions, folder: Path, names: list[str],
               work: Callable[[str], Any | None], say: Callable[[str], None]) -> None:
    """Run ``work`` on each table that has no result file in ``folder`` yet, in one Ray
    session, writing each result (a dataclass) as soon as it is there: resumable."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = [n for n in names if not (folder / f"{n}.json").exists()]
    session = RaySession(None, 1.0, 0.0, options.workers)
    if todo:
        session.start()
    try:
        for i, name in enumerate(todo, 1):
            say(f"[{i}/{len(todo)}] {name}")
            row = work(name)
            if row is not None:
                (folder / f"{name}.json").write_text(
                    json.dumps(asdict(row), indent=1, sort_keys=True) + "\n")
    finally:
        session.stop()


def load_results(folder: Path, names: list[str] | None = None) -> list[TableResult]:
    paths = sorted(folder.glob("*.json"))
    results = [TableResult(**json.loads(p.read_text())) for p in paths]
    return [r for r in results if names is None or r.name in names]


def study_name(name: str, space_name: str) -> str:
    return f"{CORPUS_PREFIX}{name}-{space_name}"


def run_table(name: str, options: CorpusOptions, say: Callable[[str], None]) -> TableResult:
    """The protocol on one table (resumes whatever the storage already holds)."""
    start = time.perf_counter()
    dataset = f"{CORPUS_PREFIX}{name}"
    study = study_name(name, load_space(options.space).name)
    data = load_dataset(dataset)
    say(f"  per-layer search {study}")
    Search(SearchOptions(dataset=dataset, space=options.space, study=study, seed=0,
                         trials=options.trials, workers=options.workers, epochs=options.epochs,
                         storage_url=options.storage_url, compare_relu=False, artifacts=False),
           data=data, hooks=search_hooks()).run(keep_ray=True)
    say("  baselines and confirmation")
    rec = confirm_study(ConfirmOptions(study=study, storage_url=options.storage_url,
                                       top_k=options.top_k, seeds=options.seeds,
                                       workers=options.workers), on_event=say)
    aa = _aa(name, study, options, say)
    storage = open_storage(options.storage_url, create=False)
    sides: dict[str, dict[str, float]] = {}
    if rec.confirmation:
        c = rec.confirmation
        sides["search"] = {"test_mean": c.mean, "test_std": c.std, "n": c.n,
                           "validation_mean": c.validation_mean or math.nan}
    for kind, base in rec.baselines.items():
        sides[kind] = {"test_mean": base.test_mean, "test_std": base.test_std, "n": base.n,
                       "validation_mean": base.validation_mean}
    chosen_id = find_study(storage, rec.study)
    assert chosen_id is not None
    return TableResult(
        name=name, dataset=dataset, study=study, meta=data.meta, metric=data.metric, side=rec.side,
        activations=rec.activations, params=rec.params,
        space_spec=study_meta(storage, chosen_id)["space_spec"], verdicts=rec.verdicts,
        sides=sides, comparisons={k: c.to_dict() for k, c in rec.comparisons.items()}, aa=aa,
        ablation=rec.ablation.to_dict() if rec.ablation else None,
        seconds=round(time.perf_counter() - start, 1),
        budget={"trials": options.trials, "epochs": options.epochs, "seeds": options.seeds,
                "top_k": options.top_k},
        recommendation=rec.to_dict())


def search_and_confirm(dataset: str, parent: str, name: str, space: SearchSpace, seed: int,
                       kind: str, options: CorpusOptions,
                       say: Callable[[str], None]) -> Confirmed | None:
    """Run (or resume) a side study of ``parent`` (a table's search), retrain its top trials
    over the seeds, and return its confirmed best. ``kind`` keeps it out of
    recommendations."""
    say(f"  {kind} {name}")
    Search(SearchOptions(dataset=dataset, space=space, study=name, trials=options.trials,
                         workers=options.workers, epochs=options.epochs,
                         storage_url=options.storage_url, seed=seed, compare_relu=False,
                         artifacts=False, baseline_of=parent, baseline_kind=kind)
           ).run(keep_ray=True)
    storage = open_storage(options.storage_url, create=False)
    study_id = find_study(storage, name)
    assert study_id is not None
    inputs = study_inputs(name, study_meta(storage, study_id), None)
    confirm_options = ConfirmOptions(study=name, storage_url=options.storage_url,
                                     top_k=options.top_k, seeds=options.seeds,
                                     workers=options.workers)
    train_jobs(retrain_jobs(storage, name, inputs, options.top_k, options.seeds),
               inputs.data, confirm_options, storage, say)
    return confirmed_best(storage, name)


def _aa(name: str, study: str, options: CorpusOptions,
        say: Callable[[str], None]) -> dict[str, Any]:
    """A second tuned-ReLU search (seed 1), confirmed, against the first (seed 0)."""
    space = baseline_space(load_space(options.space), "tuned_relu")
    a = search_and_confirm(f"{CORPUS_PREFIX}{name}", study, f"{study}--tuned-relu-aa", space, 1,
                           AA_KIND, options, say)
    b = confirmed_best(open_storage(options.storage_url, create=False), f"{study}--tuned-relu")
    if a is None or b is None:
        return {"verdict": "not confirmed (a side has no completed trial)"}
    comparison = a.compare_with(b, "tuned_relu")
    seeds_only = np.nan
    if comparison.method != "seeds":  # what a seed-only test would have said
        seeds_only = a.compare_with_seeds_only(b).p_value
    return {**comparison.to_dict(), "p_value_seeds_only": seeds_only,
            "same_configuration": a.trial.params == b.trial.params}

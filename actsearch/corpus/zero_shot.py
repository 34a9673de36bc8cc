"""Leave one table out: how good is the answer for a dataset never searched?

For each corpus table, the knowledge base is rebuilt from the *other* tables' results and

- *zero-shot*: the configuration recommended for the nearest other table is retrained on this
  table over the seeds and compared with this table's tuned ReLU (searched with the full
  budget) and with a default ReLU MLP (2 × 64 units, Adam, lr 1e-3, batch 64); its regret is
  this table's own recommended test score minus the zero-shot one;
- *warm start*: a per-layer search of this table warm-started from the other tables, against
  the cold one (the corpus's own per-layer study): trials until the best validation score
  reaches 99% of the cold study's best.

Results go to ``OUT/corpus-zero-shot/NAME.json`` as each table ends (resumable).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.trial import FrozenTrial, TrialState

from actsearch.corpus.protocol import CorpusOptions, TableResult, each_table, load_results
from actsearch.errors import UsageError
from actsearch.recommend.knowledge import SHIPPED_KNOWLEDGE_BASE, KnowledgeEntry, write_knowledge
from actsearch.recommend.recommendation import Recommendation, confirmed_best
from actsearch.recommend.similar import similar_datasets
from actsearch.recommend.stats import compare
from actsearch.search.driver import Search
from actsearch.search.options import SearchOptions
from actsearch.search.spaces import SearchSpace
from actsearch.search.workers import WorkerPool
from actsearch.service.searches import search_hooks
from actsearch.store.database import open_storage
from actsearch.store.studies import find_study, metric_value, study_meta
from actsearch.train.data import Dataset, load_dataset
from actsearch.train.loop import Evaluation, TrainConfig
from actsearch.train.models import MLPConfig

TARGET_SHARE = 0.99
WARM_KIND = "warm_start"


@dataclass
class ZeroShotResult:
    """One table left out."""

    name: str
    neighbour: str
    distance: float
    side: str
    activations: list[str]
    params: dict[str, Any]
    test_mean: float
    test_std: float
    own_test_mean: float
    regret: float
    vs_tuned_relu: dict[str, Any]
    vs_default_relu: dict[str, Any]
    cold_trials_to_target: int | None
    warm_trials_to_target: int | None
    warm_from: list[str] = field(default_factory=list)
    seconds: float = 0.0


def entry_from_result(result: TableResult) -> KnowledgeEntry:
    """A corpus table's conclusion as a knowledge-base entry."""
    rec = Recommendation.model_validate({**result.recommendation, "source": "knowledge base"})
    return KnowledgeEntry(dataset=result.dataset, meta=result.meta,
                          space_spec=result.space_spec, recommendation=rec)


def zero_shot_dir(out: Path) -> Path:
    return out / "corpus-zero-shot"


def load_zero_shot(out: Path) -> list[ZeroShotResult]:
    folder = zero_shot_dir(out)
    return [ZeroShotResult(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]


def run_zero_shot(options: CorpusOptions,
                  on_event: Callable[[str], None] | None = None) -> list[ZeroShotResult]:
    """Leave each table with corpus results out in turn (skipping those already done)."""
    say = on_event or (lambda _: None)
    results = load_results(options.per_table_dir)
    if len(results) < 2:
        raise UsageError("leave-one-out needs corpus results of at least two tables: run "
                         "`actsearch corpus run` first")
    by_name = {r.name: r for r in results}

    def work(name: str) -> ZeroShotResult:
        others = tuple(entry_from_result(r) for r in results if r.name != name)
        return leave_out(by_name[name], others, options, say)

    each_table(options, zero_shot_dir(options.out), list(by_name), work, say)
    return load_zero_shot(options.out)


def leave_out(result: TableResult, others: tuple[KnowledgeEntry, ...],
              options: CorpusOptions, say: Callable[[str], None]) -> ZeroShotResult:
    start = time.perf_counter()
    data = load_dataset(result.dataset)
    nearest = similar_datasets(None, data.meta, k=1, knowledge=others)[0]
    entry = next(e for e in others if e.dataset == nearest.dataset)
    rec = entry.recommendation
    space = SearchSpace.from_record(entry.space_spec)
    epochs = result.budget.get("epochs", options.epochs)
    seeds = range(result.budget.get("seeds", options.seeds))
    zero_shot = [space.suggest_config(optuna.trial.FixedTrial(rec.params), data, epochs=epochs,
                                      seed=s) for s in seeds]
    default = [TrainConfig(MLPConfig(data.n_features, data.out_features, (64, 64),
                                     ("relu", "relu")), lr=1e-3, batch_size=64, epochs=epochs,
                           seed=s) for s in seeds]
    say(f"  zero-shot from {nearest.dataset} (distance {nearest.distance:.2f}), default ReLU")
    runs = _evaluate([*zero_shot, *default], data, options.workers)
    ours, plain = runs[:len(zero_shot)], runs[len(zero_shot):]
    storage = open_storage(options.storage_url, create=False)
    study = result.study
    tuned = confirmed_best(storage, f"{study}--tuned-relu")
    if tuned is None:
        raise UsageError(f"table {result.name!r} has no confirmed tuned-ReLU baseline in "
                         f"{options.storage_url}: run `actsearch corpus run` with that storage")

    def scores(evals: list[Evaluation]) -> tuple[list[float], list[list[float]]]:
        return [e.test for e in evals], [list(e.test_outcomes) for e in evals]

    ours_scores, ours_outcomes = scores(ours)
    plain_scores, plain_outcomes = scores(plain)
    vs_tuned = compare(ours_scores, tuned.test, baseline="tuned_relu", outcomes=ours_outcomes,
                       baseline_outcomes=tuned.outcomes)
    vs_default = compare(ours_scores, plain_scores, baseline="default_relu",
                         outcomes=ours_outcomes, baseline_outcomes=plain_outcomes)
    cold, warm, warm_from = _warm_start(result, study, others, options, data, say)
    own = result.sides[result.side]["test_mean"]
    return ZeroShotResult(
        name=result.name, neighbour=nearest.dataset, distance=nearest.distance, side=rec.side,
        activations=rec.activations, params=rec.params, test_mean=vs_tuned.mean,
        test_std=vs_tuned.std, own_test_mean=own, regret=own - vs_tuned.mean,
        vs_tuned_relu=vs_tuned.to_dict(), vs_default_relu=vs_default.to_dict(),
        cold_trials_to_target=cold, warm_trials_to_target=warm, warm_from=warm_from,
        seconds=round(time.perf_counter() - start, 1))


def _evaluate(configs: list[TrainConfig], data: Dataset, workers: int) -> list[Evaluation]:
    pool = WorkerPool(ray.put(data), min(workers, len(configs)), 1.0, 0.0)
    try:
        refs = [pool.slots[i % len(pool.slots)].actor.evaluate.remote(c)
                for i, c in enumerate(configs)]
        return list(ray.get(refs))
    finally:
        pool.shutdown()


def trials_to_reach(trials: list[FrozenTrial], target: float) -> int | None:
    """How many finished trials (in order) until one completes at ``target`` or above."""
    finished = sorted((t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)),
                      key=lambda t: t.number)
    for i, trial in enumerate(finished, 1):
        if trial.state == TrialState.COMPLETE and (metric_value(trial) or 0.0) >= target:
            return i
    return None


def _warm_start(result: TableResult, study: str, others: tuple[KnowledgeEntry, ...],
                options: CorpusOptions, data: Dataset,
                say: Callable[[str], None]) -> tuple[int | None, int | None, list[str]]:
    trials = result.budget.get("trials", options.trials)
    warm_name = f"{study}--warm"
    say(f"  warm-started search {warm_name}")
    storage = open_storage(options.storage_url, create=False)
    cold_id = find_study(storage, study)
    assert cold_id is not None
    space = SearchSpace.from_record(study_meta(storage, cold_id)["space_spec"])
    search = Search(SearchOptions(
        dataset=result.dataset, space=space, study=warm_name, seed=0,
        trials=trials, workers=options.workers, epochs=result.budget.get("epochs"),
        storage_url=options.storage_url, compare_relu=False, artifacts=False, warm_start=True,
        baseline_of=study, baseline_kind=WARM_KIND), data=data,
        hooks=search_hooks(knowledge=others))
    search.run(keep_ray=True)
    warm_id = find_study(storage, warm_name)
    assert warm_id is not None
    cold_trials = storage.get_all_trials(cold_id, deepcopy=False)
    complete = [v for t in cold_trials
                if t.state == TrialState.COMPLETE and (v := metric_value(t))]
    target = TARGET_SHARE * max(complete) if complete else float("inf")
    warm_trials = storage.get_all_trials(warm_id, deepcopy=False)
    warm_from = sorted({str(t.user_attrs["warm_start_from"]) for t in warm_trials
                        if t.user_attrs.get("warm_start_from")})
    return trials_to_reach(cold_trials, target), trials_to_reach(warm_trials, target), warm_from


def distill_knowledge(out: Path, path: Path | None = None) -> tuple[int, Path]:
    """Write the knowledge base from the corpus results in ``out`` (default: the one the
    package ships); how many entries it holds, and where.

    Raises:
        UsageError: ``out`` holds no corpus results.
    """
    results = load_results(CorpusOptions(out=out).per_table_dir)
    if not results:
        raise UsageError(f"no corpus results in {str(out)!r}: run `actsearch corpus run`, or "
                         "pass its --out")
    path = path or SHIPPED_KNOWLEDGE_BASE
    write_knowledge([entry_from_result(r) for r in results], path,
                    about={"tables": len(results), "budget": results[0].budget,
                           "made_by": "actsearch corpus run + actsearch corpus distill"})
    return len(results), path

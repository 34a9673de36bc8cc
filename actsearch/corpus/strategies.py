"""Spend the budget well: the staged search against the joint one, on every corpus table.

Per table, the table's search run again with the other strategy (:mod:`actsearch.search.strategy`),
same space, budget and seed, its top configurations retrained over the seeds; on the test
split the staged search's confirmed best is compared with the joint one's and with tuned
ReLU. Results go to ``OUT/corpus-strategy/NAME.json`` as each table ends (resumable).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from actsearch.corpus.protocol import (
    CorpusOptions,
    TableResult,
    each_table,
    load_results,
    search_and_confirm,
)
from actsearch.errors import UsageError
from actsearch.recommend.recommendation import Confirmed, confirmed_best
from actsearch.search.spaces import SearchSpace, StrategySpec
from actsearch.search.strategy import Strategy
from actsearch.store.database import open_storage
from actsearch.store.studies import find_study, study_meta

STRATEGY_KIND = "strategy"  # keeps these studies out of recommendations


@dataclass
class StrategyResult:
    """The staged search against the joint one on one table."""

    name: str
    staged: dict[str, Any]
    joint: dict[str, Any]
    vs_joint: dict[str, Any]
    vs_tuned_relu: dict[str, Any]


def strategy_dir(out: Path) -> Path:
    return out / "corpus-strategy"


def load_strategies(out: Path) -> list[StrategyResult]:
    return [StrategyResult(**json.loads(p.read_text()))
            for p in sorted(strategy_dir(out).glob("*.json"))]


def _side(c: Confirmed) -> dict[str, Any]:
    return {"study": c.study.name, "activations": list(c.trial.user_attrs["activations"]),
            "params": dict(c.trial.params), "test_mean": sum(c.test) / len(c.test),
            "validation_mean": c.val_mean}


def run_strategies(options: CorpusOptions,
                   on_event: Callable[[str], None] | None = None) -> list[StrategyResult]:
    """Run the staged search on each table with corpus results not done yet."""
    say = on_event or (lambda _: None)
    results = load_results(options.per_table_dir)
    if not results:
        raise UsageError("no corpus results yet: run `actsearch corpus run` first")
    by_name = {r.name: r for r in results}
    each_table(options, strategy_dir(options.out), list(by_name),
               lambda name: compare_strategies(by_name[name], options, say), say)
    return load_strategies(options.out)


def compare_strategies(table: TableResult, options: CorpusOptions,
                       say: Callable[[str], None]) -> StrategyResult | None:
    """The table's search against the same search with the other strategy (same space,
    budget and seed), both confirmed; the staged one is also compared with tuned ReLU."""
    storage = open_storage(options.storage_url, create=False)
    study_id = find_study(storage, table.study)
    if study_id is None:
        raise UsageError(f"study {table.study!r} is not in {options.storage_url}: run "
                         "`actsearch corpus run` with that storage")
    spec = study_meta(storage, study_id)["space_spec"]
    space = SearchSpace.from_record(spec)
    # A space recorded before strategies existed was searched jointly.
    own_strategy = (spec.get("strategy") or {}).get("name", "joint")
    other: Strategy = "joint" if own_strategy == "staged" else "staged"
    other_space = space.model_copy(update={"strategy": StrategySpec(name=other)})
    table_options = replace(options, trials=table.budget["trials"],
                            epochs=table.budget["epochs"], seeds=table.budget["seeds"],
                            top_k=table.budget["top_k"])
    alternative = search_and_confirm(table.dataset, table.study, f"{table.study}--{other}",
                                     other_space, 0, STRATEGY_KIND, table_options, say)
    own = confirmed_best(storage, table.study)
    tuned = confirmed_best(storage, f"{table.study}--tuned-relu")
    if alternative is None or own is None or tuned is None:
        say(f"  {table.name}: a side has no confirmed configuration; skipped")
        return None
    staged, joint = (alternative, own) if other == "staged" else (own, alternative)
    return StrategyResult(
        name=table.name, staged=_side(staged), joint=_side(joint),
        vs_joint=staged.compare_with(joint, "joint").to_dict(),
        vs_tuned_relu=staged.compare_with(tuned, "tuned_relu").to_dict())

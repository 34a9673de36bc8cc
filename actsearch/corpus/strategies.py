"""Spend the budget well: the staged search against the joint one, on every corpus table.

Per table, a staged search (:mod:`actsearch.strategy`) with the joint search's space,
budget and seed, its top configurations retrained over the seeds, compared on the test split
with the joint search's confirmed best and with tuned ReLU. Results go to
``OUT/corpus-strategy/NAME.json`` as each table ends (resumable).
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
from actsearch.recommend import Confirmed, confirmed_best
from actsearch.spaces import SearchSpace, StrategySpec
from actsearch.storage import find_study, open_storage, study_meta

STAGED_KIND = "staged"


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
    """The staged search of one table, confirmed, against its joint search and tuned ReLU."""
    storage = open_storage(options.storage, create=False)
    study_id = find_study(storage, table.study)
    if study_id is None:
        raise UsageError(f"study {table.study!r} is not in {options.storage}: run "
                         "`actsearch corpus run` with that storage")
    joint_space = SearchSpace.model_validate(study_meta(storage, study_id)["space_spec"])
    staged_space = joint_space.model_copy(update={"strategy": StrategySpec(name="staged")})
    table_options = replace(options, trials=table.budget["trials"],
                            epochs=table.budget["epochs"], seeds=table.budget["seeds"],
                            top_k=table.budget["top_k"])
    staged = search_and_confirm(table.dataset, table.study, f"{table.study}--staged",
                                staged_space, 0, STAGED_KIND, table_options, say)
    joint = confirmed_best(storage, table.study)
    tuned = confirmed_best(storage, f"{table.study}--tuned-relu")
    if staged is None or joint is None or tuned is None:
        say(f"  {table.name}: a side has no confirmed configuration; skipped")
        return None
    return StrategyResult(
        name=table.name, staged=_side(staged), joint=_side(joint),
        vs_joint=staged.compare_with(joint, "joint").to_dict(),
        vs_tuned_relu=staged.compare_with(tuned, "tuned_relu").to_dict())

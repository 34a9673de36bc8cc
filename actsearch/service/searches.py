"""Running searches as a user asks for them: the search, its hooks, and the confirmation after.

The search driver knows no recommendation; this is where a search is wired to one: its
``publish`` hook refreshes the dataset's served recommendation and the study's dashboard note,
``--warm-start`` draws on the similar datasets, and ``--confirm`` confirms the study on the
same Ray session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from optuna.storages import RDBStorage

from actsearch.recommend.confirm import ConfirmOptions, confirm_study
from actsearch.recommend.knowledge import KnowledgeEntry
from actsearch.recommend.note import write_study_note
from actsearch.recommend.recommendation import Recommendation, refresh_recommendation
from actsearch.recommend.similar import warm_starts
from actsearch.search.driver import Search
from actsearch.search.options import Progress, SearchHooks, SearchOptions, SearchResult


def publish(storage: RDBStorage, dataset: str) -> None:
    """Store the dataset's recommendation and its study's note (both idempotent)."""
    rec = refresh_recommendation(storage, dataset)
    write_study_note(storage, rec.study, rec)


def search_hooks(knowledge: Sequence[KnowledgeEntry] | None = None) -> SearchHooks:
    """A user's search: it publishes its recommendation, and warm-starts from the studies in
    its storage and ``knowledge`` (None: the shipped knowledge base)."""
    return SearchHooks(warm_start=partial(warm_starts, knowledge=knowledge), publish=publish)


def run_search(options: SearchOptions,
               on_progress: Callable[[Progress], None] | None = None,
               on_event: Callable[[str], None] | None = None) -> SearchResult:
    """Run (or resume) a search, and confirm its top trials if ``options.confirm``."""
    search = Search(options, on_progress, hooks=search_hooks())
    result = search.run(keep_ray=options.confirm)
    if options.confirm:
        try:
            confirm_study(ConfirmOptions(
                study=result.study, storage_url=search.storage_url, top_k=options.confirm_top_k,
                seeds=options.confirm_seeds, workers=options.workers, address=search.address,
                cpus_per_trial=options.cpus_per_trial, gpus_per_trial=options.gpus_per_trial,
                data_dir=options.data_dir), on_event=on_event)
        finally:
            search.ray_session.stop()
    return result


def confirm(options: ConfirmOptions,
            on_event: Callable[[str], None] | None = None) -> Recommendation:
    """Search the study's tuned baselines, retrain every side over seeds, and recommend."""
    return confirm_study(options, on_event)

"""Studies: list, inspect, and start searches in the background."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from actsearch import service
from actsearch.api.deps import ReadAccess, StorageDep, WriteAccess, is_plain_name
from actsearch.api.schemas import (
    SearchRequest,
    SearchRunOut,
    SearchStarted,
    StudyDetail,
    StudySummary,
    TrialOut,
)
from actsearch.errors import UsageError
from actsearch.service import BackgroundSearches, TooManySearchesError

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])


def _summary(info: service.StudyInfo) -> StudySummary:
    return StudySummary(name=info.name, dataset=info.dataset, space=info.space,
                        metric=info.metric, complete=info.n_complete, pruned=info.n_pruned,
                        failed=info.n_failed, running=info.n_running,
                        best_value=info.best_value)


@router.get("", response_model=list[StudySummary], dependencies=[ReadAccess])
def get_studies(storage: StorageDep) -> list[StudySummary]:
    return [_summary(i) for i in service.list_studies(storage)]


@router.get("/{name}", response_model=StudyDetail, dependencies=[ReadAccess],
            responses={404: {"description": "No such study"}})
def get_study(name: str, storage: StorageDep,
              top: Annotated[int, Query(ge=0, le=100, description="Trials per page.")] = 10,
              offset: Annotated[int, Query(ge=0, le=10**6, description="Best trials to "
                                                                      "skip.")] = 0,
              ) -> StudyDetail:
    """One study: its counts and a page of its finished trials, best first (only this
    study's trials are read)."""
    try:  # the name is a bound parameter, never SQL text
        detail = service.show_study(storage, name, top, offset) if is_plain_name(name) else None
    except UsageError:
        detail = None
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study named {name!r}; "
                            "GET /api/v1/studies lists them")
    trials = [TrialOut(number=t.number, state=t.state, value=t.value,
                       activations=t.activations, params=t.params, epochs=t.epochs,
                       telemetry=t.telemetry, cost=t.cost) for t in detail.trials]
    return StudyDetail(**_summary(detail.info).model_dump(), meta=detail.info.meta,
                       importance=detail.importance, final=detail.final, top_trials=trials)


@router.post("", response_model=SearchStarted, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[WriteAccess],
             responses={400: {"description": "Unknown dataset or space"},
                        429: {"description": "As many searches run as the server allows"}})
def start_search(body: SearchRequest, request: Request) -> SearchStarted:
    """Start a search on Ray in a separate driver process; poll the study and the run URL."""
    options = service.SearchOptions(
        dataset=body.dataset, space=body.space, trials=body.trials, workers=body.workers,
        epochs=body.epochs, study=body.study, seed=body.seed,
        cpus_per_trial=body.cpus_per_trial, gpus_per_trial=body.gpus_per_trial,
        trials_per_worker=body.trials_per_worker, confirm=body.confirm,
        objectives=tuple(body.objectives) if body.objectives else None)
    searches: BackgroundSearches = request.app.state.searches
    try:
        run = searches.start(options)
    except TooManySearchesError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                            headers={"Retry-After": "30"}) from None
    name = run.study
    return SearchStarted(study=name, status_url=str(request.url_for("get_study", name=name)),
                         run_url=str(request.url_for("get_runs", name=name)),
                         run_id=run.run_id)


@router.get("/{name}/runs", response_model=list[SearchRunOut], dependencies=[ReadAccess])
def get_runs(name: str, request: Request) -> list[SearchRunOut]:
    """The background runs of a study, newest first, with why a failed one failed."""
    searches: BackgroundSearches = request.app.state.searches
    return [SearchRunOut(**asdict(r)) for r in searches.runs_of(name)]

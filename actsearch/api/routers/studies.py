"""Studies: list, inspect, and start searches in the background."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from optuna.trial import TrialState

from actsearch.api.deps import ReadAccess, StorageDep, WriteAccess, is_plain_name
from actsearch.api.schemas import (
    SearchRequest,
    SearchRunOut,
    SearchStarted,
    StudyDetail,
    StudySummary,
    TrialOut,
)
from actsearch.background import BackgroundSearches, TooManySearchesError
from actsearch.data import dataset_names
from actsearch.spaces import available_spaces
from actsearch.storage import StudyInfo, find_study, list_studies, study_info, study_meta

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])


def _summary(info: StudyInfo) -> dict[str, Any]:
    return {"name": info.name, "dataset": info.dataset, "space": info.space,
            "metric": info.metric, "complete": info.n_complete, "pruned": info.n_pruned,
            "failed": info.n_failed, "running": info.n_running, "best_value": info.best_value}


@router.get("", response_model=list[StudySummary], dependencies=[ReadAccess])
def get_studies(storage: StorageDep) -> list[StudySummary]:
    return [StudySummary(**_summary(i)) for i in list_studies(storage)]


@router.get("/{name}", response_model=StudyDetail, dependencies=[ReadAccess],
            responses={404: {"description": "No such study"}})
def get_study(name: str, storage: StorageDep,
              top: Annotated[int, Query(ge=0, le=100, description="Trials per page.")] = 10,
              offset: Annotated[int, Query(ge=0, le=10**6, description="Best trials to "
                                                                      "skip.")] = 0,
              ) -> StudyDetail:
    """One study: its counts and a page of its finished trials, best first (only this
    study's trials are read)."""
    # The name is a bound parameter, never SQL text.
    study_id = find_study(storage, name) if is_plain_name(name) else None
    if study_id is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no study named {name!r}; "
                            "GET /api/v1/studies lists them")
    attrs = storage.get_study_user_attrs(study_id)
    info = study_info(storage, study_id, name, attrs)
    finished = [t for t in storage.get_all_trials(study_id, deepcopy=False)
                if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.value is not None]
    finished.sort(key=lambda t: (t.state != TrialState.COMPLETE, -(t.value or 0.0)))
    trials = [TrialOut(number=t.number, state=t.state.name.lower(), value=t.value,
                       activations=t.user_attrs.get("activations", []),
                       params={k: v for k, v in t.params.items()},
                       epochs=t.user_attrs.get("epochs"), telemetry=t.user_attrs.get("telemetry"))
              for t in finished[offset:offset + top]]
    return StudyDetail(**_summary(info), meta=study_meta(storage, study_id),
                       importance=attrs.get("importance"), final=attrs.get("final"),
                       top_trials=trials)


@router.post("", response_model=SearchStarted, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[WriteAccess],
             responses={400: {"description": "Unknown dataset or space"},
                        429: {"description": "As many searches run as the server allows"}})
def start_search(body: SearchRequest, request: Request) -> SearchStarted:
    """Start a search on Ray in a separate driver process; poll the study and the run URL."""
    if body.dataset not in dataset_names():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown dataset {body.dataset!r}; "
                            "GET /api/v1/datasets lists them")
    if body.space not in available_spaces():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown search space {body.space!r}; "
                            f"use one of {', '.join(available_spaces())}")
    name = body.study or f"{body.dataset}-{body.space}"
    args = ["--dataset", body.dataset, "--space", body.space, "--trials", str(body.trials),
            "--workers", str(body.workers), "--study", name, "--seed", str(body.seed),
            "--cpus-per-trial", str(body.cpus_per_trial), "--gpus-per-trial",
            str(body.gpus_per_trial)]
    if body.epochs:
        args += ["--epochs", str(body.epochs)]
    if body.confirm:
        args.append("--confirm")
    searches: BackgroundSearches = request.app.state.searches
    try:
        run = searches.start(name, args)
    except TooManySearchesError as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                            headers={"Retry-After": "30"}) from None
    return SearchStarted(study=name, status_url=str(request.url_for("get_study", name=name)),
                         run_url=str(request.url_for("get_runs", name=name)),
                         run_id=run.run_id)


@router.get("/{name}/runs", response_model=list[SearchRunOut], dependencies=[ReadAccess])
def get_runs(name: str, request: Request) -> list[SearchRunOut]:
    """The background runs of a study, newest first, with why a failed one failed."""
    searches: BackgroundSearches = request.app.state.searches
    return [SearchRunOut(**asdict(r)) for r in searches.runs_of(name)]

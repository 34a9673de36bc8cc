"""The activation catalogue and the datasets actsearch knows."""

from __future__ import annotations

from fastapi import APIRouter

from actsearch import activations
from actsearch.api.deps import ReadAccess, StorageDep
from actsearch.api.schemas import Activation, DatasetInfo
from actsearch.data import dataset_names
from actsearch.similar import studied_meta

router = APIRouter(prefix="/api/v1", tags=["catalogue"], dependencies=[ReadAccess])


@router.get("/activations", response_model=list[Activation])
def list_activations() -> list[Activation]:
    return [Activation(**activations.info(n).to_dict()) for n in activations.names()]


@router.get("/datasets", response_model=list[DatasetInfo])
def list_datasets(storage: StorageDep) -> list[DatasetInfo]:
    studied = set(studied_meta(storage))
    names = dict(dataset_names())
    names.update({s: "studied dataset (from a file)" for s in studied - set(names)})
    return [DatasetInfo(name=n, description=d, studied=n in studied) for n, d in names.items()]

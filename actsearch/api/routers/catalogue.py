"""The activation catalogue and the datasets actsearch knows."""

from __future__ import annotations

from fastapi import APIRouter

from actsearch import activations, service
from actsearch.api.deps import ReadAccess, StorageDep
from actsearch.api.schemas import Activation, DatasetInfo

router = APIRouter(prefix="/api/v1", tags=["catalogue"], dependencies=[ReadAccess])


@router.get("/activations", response_model=list[Activation])
def list_activations() -> list[Activation]:
    return [Activation(**activations.info(n).to_dict()) for n in activations.names()]


@router.get("/datasets", response_model=list[DatasetInfo])
def list_datasets(storage: StorageDep) -> list[DatasetInfo]:
    return [DatasetInfo(name=d.name, description=d.description, studied=d.studied)
            for d in service.known_datasets(storage)]

"""``GET /v1/models`` and ``GET /v1/models/{id}``: the base model and each adapter by name."""

from __future__ import annotations

from fastapi import APIRouter

from afinar.serve.auth import ApiError
from afinar.serve.deps import CallerDep, DeploymentDep, RecordDep

router = APIRouter()


def _card(name: str, started: int) -> dict:
    return {"id": name, "object": "model", "created": started, "owned_by": "afinar"}


@router.get("/v1/models")
async def list_models(dep: DeploymentDep, _: CallerDep) -> dict:
    return {"object": "list", "data": [_card(m, dep.started) for m in dep.models]}


@router.get("/v1/models/{model}")
async def get_model(model: str, dep: DeploymentDep, record: RecordDep, _: CallerDep) -> dict:
    record.model = model
    if model not in dep.models:
        raise ApiError(404, "model_not_found", f"model '{model}' is not served here")
    return _card(model, dep.started)

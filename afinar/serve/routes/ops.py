"""``GET /healthz`` (is the model worker up) and ``GET /metrics`` (Prometheus text format).

Neither needs a key nor is audited: they carry no prompts, only counts; put them behind the
network policy that guards your other scrape targets.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from afinar.serve.deps import DeploymentDep

router = APIRouter()


@router.get("/healthz")
async def healthz(dep: DeploymentDep):
    if not dep.engine.alive():
        return JSONResponse({"status": "model worker stopped", "models": list(dep.models)}, status_code=503)
    return {"status": "ok", "models": list(dep.models)}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

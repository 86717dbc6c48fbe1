"""``POST /v1/adapters`` and ``DELETE /v1/adapters/{name}``: add a PEFT adapter to the running
server, or take one away, without a restart and without failing a request in flight.

Both need the ``deploy`` permission (``admin``, ``ml_engineer``), and each is one audit record
(``serve.adapter.add`` / ``serve.adapter.remove``: who, which adapter, from which run, and the
outcome). An adapter inside a run is served only if the run's gate promoted it and its base is
the one this server serves. The PyTorch engine loads it between two decoding steps; a removed
adapter's name stops being served at once (404), and it is unloaded once the requests already
using it have finished. llama.cpp loads its adapters when it starts (``--gguf ... --adapter``),
so a ``--gguf`` server answers 409 here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import anyio
from fastapi import APIRouter
from pydantic import Field

from afinar.errors import AfinarError
from afinar.eval.gate import require_promoted
from afinar.model.adapters import is_full_model
from afinar.model.bottleneck import is_bottleneck
from afinar.model.load import resolve_base
from afinar.run_folder import RECIPE_FILE, load_run
from afinar.serve.auth import ApiError
from afinar.serve.deps import DeployerDep, DeploymentDep, RecordDep, audited_as
from afinar.serve.engine import BASE, Busy
from afinar.serve.schemas import _Body

router = APIRouter()


class AddAdapter(_Body):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    path: str = Field(min_length=1, max_length=4096)
    """A run directory, or a PEFT adapter folder (``RUN/adapter`` or one outside a run)."""


def _same_base(a: str, b: str) -> bool:
    return a == b or resolve_base(a).path == resolve_base(b).path


def _adapter(path: Path, served_base: str | None) -> tuple[Path, str | None]:
    """The adapter folder ``path`` names, and the run it was trained in (None outside a run).

    Raises:
        ApiError: no PEFT adapter there, one that cannot share the base, a run the gate did not
            promote, or a run on another base.
    """
    run = path if (path / RECIPE_FILE).is_file() else path.parent if (path.parent / RECIPE_FILE).is_file() else None
    folder = path / "adapter" if run == path else path
    if not (folder / "adapter_config.json").is_file() or is_full_model(folder) or is_bottleneck(folder):
        why = "give a run directory or a folder with adapter_config.json; full fine-tunes and bottleneck adapters"
        raise ApiError(400, "invalid_adapter", f"{path}: no PEFT adapter there ({why} are served alone)")
    if run is None:
        return folder, None
    try:
        require_promoted(run, "serve", False)
    except AfinarError as err:
        raise ApiError(409, "not_promoted", str(err)) from None
    base = load_run(run).base_model
    if served_base is not None and not _same_base(base, served_base):
        raise ApiError(409, "wrong_base", f"{run} was trained on {base}; this server serves {served_base}")
    return folder, str(run.resolve())


@router.post("/v1/adapters", dependencies=audited_as("serve.adapter.add"))
async def add_adapter(body: AddAdapter, dep: DeploymentDep, record: RecordDep, _: DeployerDep) -> dict:
    record.model = body.name
    record.details.update(adapter=body.name, path=body.path)
    if body.name in dep.models:
        raise ApiError(409, "adapter_exists", f"'{body.name}' is served already; remove it first to replace it")
    if not hasattr(dep.engine, "add_adapter"):
        raise ApiError(409, "not_supported", "llama.cpp loads its adapters when it starts: restart with --adapter")
    if dep.models.get("base") != BASE:
        raise ApiError(409, "not_supported", "this server serves a full fine-tune or bottleneck adapter alone; "
                       "adapters are added to a server of a base model")  # fmt: skip
    folder, run = await anyio.to_thread.run_sync(_adapter, Path(body.path), dep.base)
    if run is not None:
        record.details["run"] = run
    try:
        await _done(dep.engine.add_adapter, body.name, folder)
    except ApiError:
        raise
    except Exception as err:  # a folder PEFT cannot load onto this base
        raise ApiError(400, "invalid_adapter", f"{body.path}: {type(err).__name__}: {err}") from None
    dep.models[body.name] = body.name
    if run is not None:
        dep.runs[body.name] = run
    return {"id": body.name, "object": "model", "created": int(time.time()), "owned_by": "afinar"}


@router.delete("/v1/adapters/{name}", dependencies=audited_as("serve.adapter.remove"))
async def remove_adapter(name: str, dep: DeploymentDep, record: RecordDep, _: DeployerDep) -> dict:
    record.model = name
    record.details["adapter"] = name
    if dep.models.get(name) in (None, BASE) or not hasattr(dep.engine, "remove_adapter"):
        raise ApiError(404, "model_not_found", f"no adapter '{name}' that can be removed is served here")
    del dep.models[name]  # new requests for it get 404 from now on
    if name in dep.runs:
        record.details["run"] = dep.runs.pop(name)
    await _done(dep.engine.remove_adapter, name)  # once the requests using it have ended
    return {"id": name, "object": "model", "deleted": True}


async def _done(change, *args) -> None:
    """Ask the engine for an adapter change (``change(*args)``, a future) and wait for it; a server
    shutting down is a 503."""
    try:
        await asyncio.wrap_future(change(*args))
    except Busy as err:
        raise ApiError(503, "server_busy", str(err), "server_error") from None

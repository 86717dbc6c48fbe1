"""``POST /v1/files``, ``GET /v1/files[/{id}]``, ``DELETE /v1/files/{id}``: training data for the
fine-tuning service (:mod:`afinar.serve.fine_tuning`), as OpenAI's files API takes it.

Uploading needs the ``train`` permission; the uploader may read and train on the file, and
others only with a grant on its dataset (``afinar data grant FILE_ID USER --permission train``).
Deleting crypto-shreds the stored file (the uploader, or an admin). Each call is one
audit record (``files.upload``, ``files.list``, ``files.get``, ``files.delete``); a refusal is a
``deny``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import anyio
from fastapi import APIRouter, File, Form, UploadFile

from afinar.errors import AfinarError
from afinar.serve.auth import ApiError
from afinar.serve.deps import DeploymentDep, RecordDep, TrainerDep, audited_as
from afinar.serve.fine_tuning import FineTuning, file_json

router = APIRouter()


def service(dep) -> FineTuning:
    """The deployment's fine-tuning service.

    Raises:
        ApiError: 404 when the server runs without it.
    """
    if dep.fine_tuning is None:
        raise ApiError(404, "not_found", "fine-tuning is off on this server (start it with afinar serve --fine-tuning)")
    return dep.fine_tuning


@router.post("/v1/files", dependencies=audited_as("files.upload"))
async def upload_file(
    dep: DeploymentDep,
    record: RecordDep,
    caller: TrainerDep,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[str, Form()],
) -> dict:
    ft = service(dep)
    data = await file.read()
    record.details.update(filename=file.filename, bytes=len(data), purpose=purpose)
    record.digests["file"] = hashlib.sha256(data).hexdigest()
    try:
        row = await anyio.to_thread.run_sync(ft.upload, caller, file.filename or "", data, purpose, dep.tokenizer)
    except AfinarError as err:
        raise ApiError(400, "invalid_file", str(err)) from None
    record.model = row.id
    record.details.update(file=row.id, rows=row.report["rows"], pii=row.report["pii"])
    return file_json(row)


@router.get("/v1/files", dependencies=audited_as("files.list"))
async def list_files(dep: DeploymentDep, caller: TrainerDep, purpose: str | None = None) -> dict:
    ft = service(dep)

    def visible() -> list[dict]:
        rows = ft.store.files(purpose)
        return [file_json(r) for r in rows if r.owner == caller.name or ft.may(caller, "dataset:read", r.path)[0]]

    return {"object": "list", "data": await anyio.to_thread.run_sync(visible), "has_more": False}


@router.get("/v1/files/{file_id}", dependencies=audited_as("files.get"))
async def get_file(file_id: str, dep: DeploymentDep, record: RecordDep, caller: TrainerDep) -> dict:
    record.model = file_id
    row = await anyio.to_thread.run_sync(service(dep).readable_file, caller, file_id)
    return file_json(row)


@router.delete("/v1/files/{file_id}", dependencies=audited_as("files.delete"))
async def delete_file(file_id: str, dep: DeploymentDep, record: RecordDep, caller: TrainerDep) -> dict:
    record.model = file_id
    ft = service(dep)
    row = await anyio.to_thread.run_sync(ft.readable_file, caller, file_id)
    allowed, reason = ft.may(caller, "dataset:write", row.path)
    if row.owner != caller.name and not allowed:
        raise ApiError(403, "permission_denied", f"{file_id}: {reason}", "permission_error")
    await anyio.to_thread.run_sync(ft.delete_file, row)
    record.details["shredded"] = row.path
    return {"id": file_id, "object": "file", "deleted": True}

"""``POST /v1/feedback``: a rating of an answer this server gave, by the caller it answered.

The rating goes to the audit log (action ``serve.feedback``) with the completion id, the caller
and the time; ``afinar data feedback`` (:mod:`afinar.data.feedback`) later joins it with that
answer's own audit record (the prompt and answer, PII redacted) into a KTO dataset. A server
keeps the ids of its last 100,000 answers (not across restarts): an id it does not know is a 404,
and an answer given to another caller a 403.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field

from afinar.serve.auth import ApiError
from afinar.serve.deps import CallerDep, DeploymentDep, RecordDep
from afinar.serve.routes._answer import created
from afinar.serve.schemas import _Body

router = APIRouter()


class FeedbackRequest(_Body):
    completion_id: str = Field(min_length=1, max_length=64)
    rating: Literal["good", "bad"]
    comment: str | None = Field(None, max_length=2000)


@router.post("/v1/feedback")
async def feedback(body: FeedbackRequest, dep: DeploymentDep, record: RecordDep, caller: CallerDep) -> dict:
    record.details["completion_id"] = body.completion_id
    answered = dep.answered.get(body.completion_id)
    if answered is None:
        raise ApiError(404, "completion_not_found", f"no answer '{body.completion_id}' from this server "
                       "(it keeps the ids of its last 100,000 answers since it started)")  # fmt: skip
    if answered != caller:
        raise ApiError(403, "permission_denied", f"answer '{body.completion_id}' was given to another caller; "
                       "only the caller it answered may rate it")  # fmt: skip
    record.details["rating"] = body.rating
    if body.comment:
        record.details["comment"] = dep.sanitizer.clean(body.comment)[0]  # PII redacted, as prompts are
    return {"object": "feedback", "completion_id": body.completion_id, "rating": body.rating, "created": created()}

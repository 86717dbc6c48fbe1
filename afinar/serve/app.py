"""The FastAPI app: a deployment (engine, guard, sanitizer, gatekeeper) behind OpenAI's routes.

Every ``/v1`` request passes one ASGI layer, :class:`Exchange`, that bounds the body size (413),
times the request, and when the last byte of the answer has gone (or the client has gone) writes
exactly one audit record and the Prometheus metrics. Route handlers fill in what the record
says: the caller, the model and adapter, token counts, guard decisions, masked text and digests.
"""

from __future__ import annotations

import time

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from starlette.exceptions import HTTPException

from afinar.serve.auth import ApiError
from afinar.serve.deps import Deployment, Record
from afinar.serve.routes import adapters, chat, completions, feedback, files, fine_tuning, models, ops
from afinar.serve.ui import routes as ui
from afinar.serve.ui.routes import Refused

__all__ = ["Exchange", "create_app"]


class Metrics:
    def __init__(self):
        disable_created_metrics()  # the *_created gauges only add noise to a scrape
        self.registry = CollectorRegistry()
        self.requests = Counter("afinar_requests", "API requests", ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "afinar_request_latency_seconds",
            "Time from request to last byte of the answer",
            ["route"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.tokens = Counter("afinar_tokens", "Tokens processed", ["kind"], registry=self.registry)
        self.blocked = Counter("afinar_blocked_requests", "Requests refused", ["reason"], registry=self.registry)


def _decision(status: int, code: str | None) -> str:
    if status < 400:
        return "allow"
    if code in ("prompt_injection", "pii_in_prompt"):
        return "block"
    return {401: "deny", 403: "deny", 429: "throttle"}.get(status, "error" if status >= 500 else "reject")


def _replaying(body: bytes, receive):
    """A ``receive`` that gives the app the body already read, then the client's next messages."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class Exchange:
    """ASGI layer around ``/v1``: body limit, timing, one audit record and metrics per request."""

    def __init__(self, app, deployment: Deployment, metrics: Metrics):
        self.app, self.dep, self.metrics = app, deployment, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/ui"):
            return await self._bounded(scope, receive, send)
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        record = Record()
        scope.setdefault("state", {})["record"] = record
        status = {"code": 499}
        finished = False

        async def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            # Shielded: a client that hangs up right after the last byte cancels the response
            # task, and the record must still be written.
            with anyio.CancelScope(shield=True):
                await self._close(scope, record, status["code"], time.perf_counter() - started)

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                # Recorded before the last byte leaves: a client that has its answer finds
                # the request in the audit log.
                await finish()
            await send(message)

        try:
            limit = self.dep.max_upload_bytes if scope["path"] == "/v1/files" else self.dep.max_body_bytes
            body = await self._body(receive, limit)
        except ApiError as err:
            record.details["error"] = err.code
            response = JSONResponse(err.body(), status_code=err.status)
            await response(scope, receive, sending)
            return
        try:
            await self.app(scope, _replaying(body, receive), sending)
        except Exception:
            status["code"], record.details["error"] = 500, "internal_error"
            raise
        finally:
            await finish()

    async def _bounded(self, scope, receive, send):
        """A page (``/ui``): the body limit alone (its routes write their own audit records)."""
        try:
            body = await self._body(receive, self.dep.max_body_bytes)
        except ApiError as err:
            return await JSONResponse(err.body(), status_code=err.status)(scope, receive, send)
        await self.app(scope, _replaying(body, receive), send)

    async def _body(self, receive, limit: int) -> bytes:
        """The whole request body, refused with 413 past ``limit`` bytes."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(
                    413,
                    "request_too_large",
                    f"request body over {limit} bytes",
                    "invalid_request_error",
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _close(self, scope, record: Record, status: int, seconds: float) -> None:
        route = scope["path"]
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        details = {"status": status, "path": route, "latency_ms": round(seconds * 1000, 1), **record.details}
        if status >= 400 and status not in (404, 405):
            self.metrics.blocked.labels(details.get("error", str(status))).inc()
        action = record.action or "serve" + route.removeprefix("/v1").replace("/", ".")
        decision = record.decision or _decision(status, details.get("error"))
        await anyio.to_thread.run_sync(
            lambda: self.dep.audit.append(
                action, record.model or route, decision, actor=record.actor, digests=record.digests, details=details
            )
        )


# ---------------------------------------------------------------- errors


def _error_response(request: Request, err: ApiError) -> JSONResponse:
    record = request.scope.get("state", {}).get("record")
    if record is not None:
        record.details["error"] = err.code
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _validation_message(err: RequestValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
    return f"field '{where}': {first.get('msg', 'invalid')}"


def create_app(deployment: Deployment) -> FastAPI:
    app = FastAPI(title="afinar", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deployment = deployment
    app.state.metrics = Metrics()

    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return _error_response(request, err)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        return _error_response(request, ApiError(400, "invalid_request", _validation_message(err)))

    @app.exception_handler(Refused)
    async def refused(request: Request, err: Refused):
        return err.response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return _error_response(request, ApiError(err.status_code, code, str(err.detail)))

    routers = (adapters, chat, completions, feedback, files, fine_tuning, models, ops, ui)
    for router in (r.router for r in routers):
        app.include_router(router)
    app.add_middleware(Exchange, deployment=deployment, metrics=app.state.metrics)
    return app

"""``/ui``: pages for the people who approve a model, served by ``afinar serve`` behind its users
and roles. Server-rendered HTML (Jinja2, escaped), charts as inline SVG, one CSS file from the
package: nothing fetched, no script, every page usable in a text browser.

Log in with an API key (a session cookie: HttpOnly, SameSite=Strict, 8 hours) or send it as
``Authorization: Bearer``; in local mode (no registry) the pages are the OS user's. Any user may
read the runs, jobs (their own; every job with ``audit:read``), comparisons and datasets; the
audit log needs ``audit:read``; downloading an adapter or an export needs ``export``. Logins,
downloads and every refusal are audit records (``ui.login``, ``ui.download``, ``ui.page``).
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from afinar.errors import AfinarError
from afinar.eval.card import CARD_HTML, inline_html
from afinar.eval.history import compare
from afinar.registry import Caller
from afinar.security.audit import audit_log, local_actor, verify_all
from afinar.serve.auth import LOCAL
from afinar.serve.ui.charts import Series, line_chart
from afinar.serve.ui.views import RunRow, curves, files_in, find_runs, masked, run_row, sections

__all__ = ["Refused", "router"]

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).parent
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
_env.filters["inline"] = lambda text: Markup(inline_html(str(text)))
COOKIE = "afinar_ui"
SESSION_SECONDS = 8 * 3600
AUDIT_SHOWN = 500
COLUMNS = [("id", "run"), ("name", "recipe"), ("base", "base"), ("method", "method"), ("state", "state"),
           ("decision", "gate"), ("metric_value", "key metric"), ("started_ts", "started"),
           ("duration_s", "duration")]  # fmt: skip


class _Sessions:
    def __init__(self):
        self._by_token: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def open(self, caller: Caller) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._by_token[token] = (caller, time.time() + SESSION_SECONDS)
        return token

    def get(self, token: str | None) -> Caller | None:
        with self._lock:
            found = self._by_token.get(token or "")
            if found is None or found[1] < time.time():
                self._by_token.pop(token or "", None)
                return None
            return found[0]

    def close(self, token: str | None) -> None:
        with self._lock:
            self._by_token.pop(token or "", None)


def _sessions(request: Request) -> _Sessions:
    state = request.app.state
    if not hasattr(state, "ui_sessions"):
        state.ui_sessions = _Sessions()
    return state.ui_sessions


def _registry(request: Request):
    return request.app.state.deployment.gate.registry


def _who(request: Request) -> Caller | None:
    """The logged-in caller: local mode's OS user, a session, or a bearer API key."""
    registry = _registry(request)
    if registry is None:
        return Caller(local_actor(), LOCAL)
    session = _sessions(request).get(request.cookies.get(COOKIE))
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    try:
        if session is not None:  # the user as the registry has them now: disabled, or another role
            return registry.caller_named(session.name)
        if scheme.lower() == "bearer" and key.strip():
            return registry.authenticate(key.strip())
    except AfinarError:
        return None
    return None


def _may(request: Request, caller: Caller, permission: str) -> bool:
    registry = _registry(request)
    return registry is None or caller.role == LOCAL or registry.allowed(caller, permission)[0]


def _audit(request: Request, action: str, resource: str, decision: str, actor: str, **details) -> None:
    request.app.state.deployment.audit.append(action, resource, decision, actor=actor, details=details)


def _page(request: Request, template: str, title: str, who: Caller | None, status: int = 200, **context):
    dep = request.app.state.deployment
    body = _env.get_template(template).render(
        title=title, who=who, local=who is not None and who.role == LOCAL, jobs_on=dep.fine_tuning is not None,
        **context,
    )  # fmt: skip
    return HTMLResponse(body, status_code=status)


class Refused(Exception):
    """A page's refusal (a redirect to the login page, a 403 or 404 page); the app answers with
    its response (:func:`afinar.serve.app.create_app` registers the handler)."""

    def __init__(self, response: Response):
        self.response = response


def _require(request: Request, permission: str | None = None) -> Caller:
    """The caller, who must hold ``permission``; else a redirect to the login page, or a 403 page
    (audited)."""
    who = _who(request)
    if who is None:
        raise Refused(RedirectResponse("/ui/login", status_code=303))
    if permission is not None and not _may(request, who, permission):
        _audit(request, "ui.page", request.url.path, "deny", who.name, permission=permission, role=who.role)
        message = f"role '{who.role}' lacks '{permission}', which this page needs"
        raise Refused(_page(request, "error.html", "Not allowed", who, 403, message=message))
    return who


def _runs(request: Request) -> dict[str, Path]:
    dep = request.app.state.deployment
    folders = list(dep.runs_dirs) + ([dep.fine_tuning.jobs_dir] if dep.fine_tuning is not None else [])
    return find_runs(folders)


def _run(request: Request, run_id: str) -> Path:
    run = _runs(request).get(run_id)
    if run is None:
        who = _who(request)
        raise Refused(_page(request, "error.html", "No such run", who, 404, message=f"no run '{run_id}' here"))
    return run


# ---------------------------------------------------------------- login


@router.get("/ui/login")
async def login_page(request: Request):
    if _registry(request) is None:
        return RedirectResponse("/ui/", status_code=303)
    return _page(request, "login.html", "Log in", None)


@router.post("/ui/login")
async def login(request: Request, api_key: Annotated[str, Form()]):
    registry = _registry(request)
    if registry is None:
        return RedirectResponse("/ui/", status_code=303)
    try:
        caller = await anyio.to_thread.run_sync(registry.authenticate, api_key)
    except AfinarError:
        await anyio.to_thread.run_sync(lambda: _audit(request, "ui.login", "/ui", "deny", "unknown"))
        return _page(request, "login.html", "Log in", None, 401, error="That key is unknown or disabled.")
    await anyio.to_thread.run_sync(lambda: _audit(request, "ui.login", "/ui", "allow", caller.name, role=caller.role))
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        COOKIE, _sessions(request).open(caller), max_age=SESSION_SECONDS, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/ui",
    )  # fmt: skip
    return response


@router.post("/ui/logout")
async def logout(request: Request):
    _sessions(request).close(request.cookies.get(COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/ui/static/ui.css")
async def stylesheet():
    return FileResponse(HERE / "static" / "ui.css", media_type="text/css")


# ---------------------------------------------------------------- runs


def _sorted(rows: list[RunRow], sort: str, desc: bool) -> list[RunRow]:
    keys = {k for k, _ in COLUMNS}
    sort = sort if sort in keys else "started_ts"
    present = [r for r in rows if getattr(r, sort) is not None]
    missing = [r for r in rows if getattr(r, sort) is None]
    return sorted(present, key=lambda r: getattr(r, sort), reverse=desc) + missing


@router.get("/ui/")
async def runs_page(request: Request, sort: str = "started_ts", desc: int = 1):
    who = _require(request)
    runs = _runs(request)

    def rows():
        out = []
        for run_id, path in runs.items():
            try:
                out.append(run_row(run_id, path))
            except AfinarError:  # a folder whose recipe no longer reads
                continue
        return out

    shown = _sorted(await anyio.to_thread.run_sync(rows), sort, bool(desc))
    dep = request.app.state.deployment
    folders = ", ".join(str(p) for p in dep.runs_dirs) or "no --runs folder"
    return _page(request, "runs.html", "Runs", who, rows=shown, columns=COLUMNS, sort=sort, desc=bool(desc),
                 folders=folders)  # fmt: skip


@router.get("/ui/runs/{run_id}")
async def run_page(request: Request, run_id: str):
    who = _require(request)
    run = _run(request, run_id)

    def build():
        row = run_row(run_id, run)
        series = curves(run)
        charts = [
            {"svg": line_chart(series["loss"], "Loss over steps", "step", "loss", "chart-loss"),
             "caption": "Training loss each step and eval loss at each eval pass."},
            {"svg": line_chart(series["speed"], "Tokens per second", "step", "tokens/s", "chart-speed"),
             "caption": "Training throughput each step."},
            {"svg": line_chart(series["memory"], "Peak memory", "step", "GB", "chart-memory"),
             "caption": "Peak memory each step."},
        ]  # fmt: skip
        exports = [str(p.relative_to(run)) for p in files_in(run / "export", ".gguf")]
        return row, charts, sections(run), exports

    row, charts, parts, exports = await anyio.to_thread.run_sync(build)
    return _page(
        request, "run.html", f"Run {run_id}", who, row=row, charts=charts, sections=parts,
        has_card=(run / CARD_HTML).is_file(), has_adapter=(run / "adapter").is_dir(),
        may_export=_may(request, who, "export"), exports=exports,
    )  # fmt: skip


@router.get("/ui/runs/{run_id}/card")
async def card(request: Request, run_id: str):
    _require(request)
    run = _run(request, run_id)
    if not (run / CARD_HTML).is_file():
        return HTMLResponse("no model card yet", status_code=404)
    return FileResponse(run / CARD_HTML, media_type="text/html")


def _download(request: Request, who: Caller, run_id: str, what: str) -> None:
    """Downloads need ``export``; each one, allowed or refused, is an audit record."""
    if not _may(request, who, "export"):
        _audit(request, "ui.download", f"{run_id}/{what}", "deny", who.name, role=who.role, permission="export")
        message = f"role '{who.role}' may not download models (it needs 'export'); the refusal is recorded"
        raise Refused(_page(request, "error.html", "Not allowed", who, 403, message=message))
    _audit(request, "ui.download", f"{run_id}/{what}", "allow", who.name, role=who.role)


@router.get("/ui/runs/{run_id}/adapter.zip")
async def adapter_zip(request: Request, run_id: str):
    who = _require(request)
    run = _run(request, run_id)
    await anyio.to_thread.run_sync(_download, request, who, run_id, "adapter.zip")

    def pack() -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for f in sorted((run / "adapter").rglob("*")):
                if f.is_file():
                    z.write(f, f"{run_id}-adapter/{f.relative_to(run / 'adapter')}")
        return buf.getvalue()

    headers = {"Content-Disposition": f'attachment; filename="{run_id}-adapter.zip"'}
    return Response(await anyio.to_thread.run_sync(pack), media_type="application/zip", headers=headers)


@router.get("/ui/runs/{run_id}/file/{name:path}")
async def run_file(request: Request, run_id: str, name: str):
    """A plot (``.png``, anyone) or an export (``.gguf``, needs ``export``) inside the run folder."""
    who = _require(request)
    run = _run(request, run_id)
    path = (run / name).resolve()
    if run.resolve() not in path.parents or path.suffix not in (".png", ".gguf") or not path.is_file():
        return _page(request, "error.html", "Not found", who, 404, message=f"{name}: no plot or export there")
    if path.suffix == ".gguf":
        await anyio.to_thread.run_sync(_download, request, who, run_id, name)
    return FileResponse(path)


@router.get("/ui/compare")
async def compare_page(request: Request, a: str | None = None, b: str | None = None):
    who = _require(request)
    runs = _runs(request)
    rows, error, chart = [], None, None
    if a and b:
        if a not in runs or b not in runs:
            error = "pick two runs from the lists"
        else:
            try:
                rows = await anyio.to_thread.run_sync(compare, runs[a], runs[b])
            except AfinarError as err:
                error = str(err)
            losses = [Series(f"{name}: train loss", curves(runs[name])["loss"][0].points) for name in (a, b)]
            chart = line_chart(losses, f"Training loss: {a} and {b}", "step", "loss", "chart-compare")
    return _page(request, "compare.html", "Compare two runs", who, runs=list(runs), a=a, b=b, rows=rows,
                 error=error, chart=chart)  # fmt: skip


# ---------------------------------------------------------------- jobs


def _when(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _progress(store, job) -> str:
    steps = [e for e in store.events(job.id, limit=50).rows if e.data and "train_loss" in e.data]
    if job.status in ("succeeded", "failed", "cancelled"):
        return job.status
    if not steps:
        return "waiting" if job.status == "queued" else job.status
    return f"step {steps[0].data['step']}, training loss {steps[0].data['train_loss']:.4f}"


@router.get("/ui/jobs")
async def jobs_page(request: Request):
    who = _require(request)
    ft = request.app.state.deployment.fine_tuning
    if ft is None:
        return _page(request, "error.html", "Jobs", who, 404, message="fine-tuning is off on this server")
    owner = None if _may(request, who, "audit:read") else who.name

    def rows():
        page = ft.store.jobs(owner, limit=100)
        return [
            {"id": j.id, "owner": j.owner, "model": j.model, "status": j.status, "progress": _progress(ft.store, j),
             "fine_tuned_model": j.fine_tuned_model, "created": _when(j.created_at)}
            for j in page.rows
        ]  # fmt: skip

    jobs = await anyio.to_thread.run_sync(rows)
    active = any(j["status"] in ("queued", "running") for j in jobs)
    return _page(request, "jobs.html", "Fine-tuning jobs", who, jobs=jobs, refresh=3 if active else None)


@router.get("/ui/jobs/{job_id}")
async def job_page(request: Request, job_id: str):
    who = _require(request)
    ft = request.app.state.deployment.fine_tuning
    job = ft.store.job(job_id) if ft is not None else None
    if job is None or (job.owner != who.name and not _may(request, who, "audit:read")):
        return _page(request, "error.html", "No such job", who, 404, message=f"no job '{job_id}' of yours here")

    def build():
        events = ft.store.events(job_id, limit=200).rows
        points = sorted((e.data["step"], e.data["train_loss"]) for e in events if e.data and "train_loss" in e.data)
        chart = line_chart([Series("train loss", points)], "Training loss", "step", "loss", "chart-job")
        shown = [{"time": _when(e.created_at), "level": e.level, "message": e.message} for e in events]
        return shown, chart, _progress(ft.store, job)

    events, chart, progress = await anyio.to_thread.run_sync(build)
    run_id = job_id if job.run_dir and Path(job.run_dir).is_dir() else None
    active = job.status in ("queued", "running")
    return _page(request, "job.html", f"Job {job_id}", who, job=job, events=events, chart=chart, progress=progress,
                 run_id=run_id, refresh=2 if active else None)  # fmt: skip


# ---------------------------------------------------------------- governance


@router.get("/ui/datasets")
async def datasets_page(request: Request):
    who = _require(request)
    registry = _registry(request)
    if registry is None:
        return _page(request, "datasets.html", "Datasets", who, datasets=[], note="local mode: no registry")
    rows = await anyio.to_thread.run_sync(registry.datasets)
    return _page(request, "datasets.html", "Datasets", who, datasets=rows, note="no dataset is registered")


@router.get("/ui/audit")
async def audit_page(request: Request, actor: str = "", action: str = "", decision: str = ""):
    who = _require(request, "audit:read")

    def build():
        log = audit_log()
        records = log.records()
        verification = verify_all()
        match = [r for r in records if (not actor or r.get("actor") == actor)
                 and (not action or r.get("action", "").startswith(action))
                 and (not decision or r.get("decision") == decision)]  # fmt: skip
        shown = [{**r, "details": json.dumps(masked(r.get("details") or {}), ensure_ascii=False)}
                 for r in reversed(match[-AUDIT_SHOWN:])]  # fmt: skip
        signed = log.checkpoints.read_text().splitlines() if log.checkpoints.is_file() else []
        last = json.loads(signed[-1]).get("time") if signed else None
        decisions = sorted({r.get("decision", "") for r in records})
        return verification, shown, len(records), len(match), last, decisions

    verification, shown, total, matching, last, decisions = await anyio.to_thread.run_sync(build)
    return _page(request, "audit.html", "Audit log", who, verification=verification, shown=shown, total=total,
                 matching=matching, last_checkpoint=last, actor=actor, action=action, decision=decision,
                 decisions=decisions)  # fmt: skip

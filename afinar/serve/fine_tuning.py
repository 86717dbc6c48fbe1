"""The fine-tuning service behind ``afinar serve --fine-tuning``: OpenAI's files and fine-tuning
jobs API on the running server.

An upload is encrypted as it lands (``$AFINAR_HOME/files/file-ID.jsonl.afe``; its plaintext never
touches the disk), checked as ``afinar data check`` checks a dataset (a file with errors is
refused, with the line and field, and removed), and registered as a ``confidential`` dataset
owned by the uploader, who gets the ``train`` grant on it. A job is queued in the registry's
database with its whole recipe: the server's job recipe (``--job-recipe``, else
:data:`DEFAULT_RECIPE`) with the job's data, base and hyperparameters. Workers (``afinar
worker``, :mod:`afinar.worker`) run it as ``afinar run`` would; the server starts ``--workers``
of them itself. When a job succeeds (trained, evaluated and promoted by its gate), the server
loads its adapter and serves it as the job's ``fine_tuned_model`` without a restart.
"""

from __future__ import annotations

import copy
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from afinar.config import recipe_from_dict
from afinar.data.intake import check_recipe_data, describe_errors, read_recipe_data
from afinar.errors import AfinarError
from afinar.eval.gate import require_promoted
from afinar.jobqueue import dispatch, is_postgres
from afinar.jobstore import FileRow, JobRow, JobStore, new_id
from afinar.lineage import sha256_file
from afinar.registry import Caller, Registry
from afinar.security import crypto
from afinar.security.audit import audit_log
from afinar.security.keys import afinar_home, default_provider
from afinar.serve.auth import LOCAL, ApiError
from afinar.serve.engine import BASE

__all__ = [
    "DEFAULT_RECIPE",
    "FILE_SUFFIXES",
    "FineTuning",
    "file_json",
    "job_json",
    "job_recipe",
    "load_job_recipe",
    "split_batch",
]

FILE_SUFFIXES = (".jsonl", ".csv", ".parquet")
"""What an upload may be (by its file name); ``.jsonl`` when the name says nothing."""

_ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DEFAULT_RECIPE = {
    "name": "ft",
    "data": {"format": "auto", "max_seq_len": 1024, "overlong": "truncate", "eval_fraction": 0.1},
    "adapter": {"method": "lora", "r": 16, "alpha": 32, "dropout": 0.0, "target_modules": _ALL_LINEAR},
    "optim": {"lr": 2.0e-4, "warmup_steps": 5, "schedule": "cosine"},
    "train": {"micro_batch_size": 4, "grad_accum": 2, "epochs": 3, "checkpoint_interval": 20, "precision": "auto"},
    "replay": {"enabled": True, "loss": "kl+sft"},
    "eval": {"metric": "rouge_l", "limit": 200, "benchmarks": {"enabled": True}},
}
"""The job recipe when the server is given none: LoRA on every linear layer, 3 epochs (OpenAI's
``auto``), replay against forgetting, ROUGE-L on the held-out tenth (a row's own ``metric``
wins), and the gate on the three general benchmarks."""


def load_job_recipe(path: Path | None) -> dict:
    """The job recipe: ``path`` (a recipe YAML; its ``data`` files are replaced by each job's), or
    :data:`DEFAULT_RECIPE`.

    Raises:
        AfinarError: not YAML, or not a valid recipe.
    """
    if path is None:
        raw = copy.deepcopy(DEFAULT_RECIPE)
    else:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise AfinarError(f"--job-recipe {path}: not a readable YAML recipe ({err})") from None
        if not isinstance(raw, dict):
            raise AfinarError(f"--job-recipe {path}: a recipe must be a YAML mapping")
    raw.setdefault("name", "ft")
    data = raw.setdefault("data", {})
    data["train"] = "placeholder.jsonl"
    recipe_from_dict(raw, str(path or "the default job recipe"))  # refused now, not at the first job
    return raw


# ---------------------------------------------------------------- hyperparameters


def split_batch(size: int, micro: int) -> tuple[int, int]:
    """``(micro_batch_size, grad_accum)`` making ``size`` rows a step, micro-batches no larger than ``micro``."""
    micro = min(micro, size)
    while size % micro:
        micro -= 1
    return micro, size // micro


def job_recipe(
    template: dict, base: str, train: Path, validation: Path | None, method: dict, seed: int, name: str, out: Path
) -> tuple[dict, dict]:
    """The recipe of a job and its ``method`` with every ``auto`` resolved.

    Raises:
        AfinarError: a resulting recipe that does not validate.
    """
    raw = copy.deepcopy(template)
    kind = method["type"]
    hp = dict(method.get(kind, {}).get("hyperparameters") or {})
    t, o, d = raw.setdefault("train", {}), raw.setdefault("optim", {}), raw.setdefault("data", {})
    defaults = recipe_from_dict({**raw, "data": {**d, "train": str(train)}})
    if hp.get("n_epochs", "auto") != "auto":
        t["epochs"] = hp["n_epochs"]
        t.pop("max_steps", None)
    if hp.get("batch_size", "auto") != "auto":
        t["micro_batch_size"], t["grad_accum"] = split_batch(hp["batch_size"], defaults.train.micro_batch_size)
    multiplier = hp.get("learning_rate_multiplier", "auto")
    o["lr"] = defaults.optim.lr * (1.0 if multiplier == "auto" else multiplier)
    if kind == "dpo":
        t["objective"] = "dpo"
        d["format"] = "preference"
        if hp.get("beta", "auto") != "auto":
            t["beta"] = hp["beta"]
    t["seed"] = seed
    d["train"], d["eval"] = str(train), str(validation) if validation else None
    d.pop("eval_splits", None)
    raw.update(name=name, base_model=base, output_dir=str(out))
    recipe = recipe_from_dict(raw, "the job's recipe")
    resolved = {
        "n_epochs": recipe.train.epochs if recipe.train.max_steps is None else "auto",
        "batch_size": recipe.train.micro_batch_size * recipe.train.grad_accum,
        "learning_rate_multiplier": 1.0 if multiplier == "auto" else multiplier,
    }
    if kind == "dpo":
        resolved["beta"] = recipe.train.beta
    return recipe.model_dump(mode="json"), {"type": kind, kind: {"hyperparameters": resolved}}


# ---------------------------------------------------------------- JSON objects


def file_json(row: FileRow) -> dict:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "status_details": None,
        "expires_at": None,
        "afinar": row.report,
    }


def job_json(row: JobRow) -> dict:
    kind = row.method["type"]
    return {
        "id": row.id,
        "object": "fine_tuning.job",
        "created_at": row.created_at,
        "error": row.error,
        "fine_tuned_model": row.fine_tuned_model,
        "finished_at": row.finished_at,
        "hyperparameters": row.method[kind]["hyperparameters"],
        "method": row.method,
        "model": row.model,
        "organization_id": "afinar",
        "result_files": [],
        "seed": row.seed,
        "status": row.status,
        "trained_tokens": row.trained_tokens,
        "training_file": row.training_file,
        "validation_file": row.validation_file,
        "user_provided_suffix": row.suffix,
        "estimated_finish": None,
        "integrations": [],
        "metadata": None,
    }


def fine_tuned_id(model: str, suffix: str | None, job_id: str) -> str:
    """``ft:<base>:<suffix>:<id>``, the model id a succeeded job is served under."""
    return f"ft:{model}:{suffix or 'afinar'}:{job_id.removeprefix('ftjob-')}"


# ---------------------------------------------------------------- the service


@dataclass
class FineTuning:
    """The service: where files and jobs live, the job recipe, quotas, and the local workers."""

    store: JobStore
    registry: Registry | None
    template: dict
    files_dir: Path
    jobs_dir: Path
    jobs_per_user: int = 2
    jobs_per_role: int = 8
    workers: int = 1
    """``afinar worker`` processes the server starts (0: workers run elsewhere)."""
    _procs: list = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _unservable: set = field(default_factory=set)

    @classmethod
    def open(cls, url: str, registry: Registry | None, job_recipe: Path | None, **kw) -> FineTuning:
        """The service on the database at ``url``, files and runs under ``$AFINAR_HOME``.

        Raises:
            AfinarError: no encryption key (uploads are stored encrypted), or a bad job recipe.
        """
        default_provider().current_id()  # fail at start, not at the first upload
        home = afinar_home()
        files, jobs = home / "files", home / "jobs"
        for folder in (files, jobs):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(JobStore(url), registry, load_job_recipe(job_recipe), files, jobs, **kw)

    # ------------------------------------------------------------ access

    def may(self, caller: Caller, permission: str, path: str | Path) -> tuple[bool, str]:
        if self.registry is None or caller.role == LOCAL:
            return True, "local mode"
        return self.registry.allowed(caller, permission, Path(path))

    def readable_file(self, caller: Caller, file_id: str, permission: str = "dataset:read") -> FileRow:
        """The file ``file_id`` if ``caller`` may use it for ``permission`` (its uploader may
        always see it; training on it follows the grants, which a data steward may revoke).

        Raises:
            ApiError: 404 (no such file, or shredded) or 403 (no grant).
        """
        row = self.store.file(file_id)
        if row is None or row.status == "deleted":
            raise ApiError(404, "file_not_found", f"no file '{file_id}'")
        allowed, reason = self.may(caller, permission, row.path)
        if not allowed and not (permission == "dataset:read" and row.owner == caller.name):
            raise ApiError(403, "permission_denied", f"{file_id}: {reason}", "permission_error")
        return row

    def own_job(self, caller: Caller, job_id: str) -> JobRow:
        """The job ``job_id`` if ``caller`` owns it (an admin sees every job).

        Raises:
            ApiError: 404 (no such job) or 403 (another user's).
        """
        row = self.store.job(job_id)
        if row is None:
            raise ApiError(404, "job_not_found", f"no fine-tuning job '{job_id}'")
        if row.owner != caller.name and caller.role not in ("admin", LOCAL):
            raise ApiError(403, "permission_denied", f"{job_id} belongs to another user", "permission_error")
        return row

    # ------------------------------------------------------------ uploads

    def upload(self, caller: Caller, filename: str, data: bytes, purpose: str, tokenizer) -> FileRow:
        """Encrypt, check and register an upload; nothing stays on disk when it is refused.

        Raises:
            ApiError: 400 for a purpose or file type afinar does not take, or data with errors
                (the message names the file, line and field).
        """
        if purpose != "fine-tune":
            raise ApiError(400, "invalid_purpose", f"purpose '{purpose}': this server takes 'fine-tune' files")
        name = Path(filename or "upload.jsonl").name
        suffix = Path(name).suffix.lower() or ".jsonl"
        if suffix not in FILE_SUFFIXES:
            raise ApiError(400, "invalid_file_type", f"{name}: accepted: {', '.join(FILE_SUFFIXES)} files")
        file_id = new_id("file")
        path = self.files_dir / f"{file_id}{suffix}.afe"
        crypto.write_data(path, data)
        try:
            report = self._check(path, tokenizer)
            if report.errors:
                message = describe_errors(report).replace(str(path), name)
                raise ApiError(400, "invalid_file", f"{name}: {len(report.errors)} error(s):\n  {message}")
            if self.registry is not None:
                self.registry.register(path, file_id, "confidential", caller.name, sha256_file(path))
                self.registry.grant(file_id, caller.name, "train")
        except BaseException:
            path.unlink(missing_ok=True)  # ciphertext only, and not kept
            raise
        summary = report.to_json()
        warnings = [f.message.replace(str(path), name) for f in report.findings if f.severity == "warning"]
        facts = {"rows": summary["rows"].get("train", 0), "pii": summary["stats"].get("pii", {}), "warnings": warnings}
        row = FileRow(
            id=file_id, owner=caller.name, filename=name, purpose=purpose, bytes=len(data),
            created_at=int(time.time()), path=str(path), status="processed", report=facts,
        )  # fmt: skip
        return self.store.add_file(row)

    def _check(self, path: Path, tokenizer):
        raw = copy.deepcopy(self.template)
        raw["data"] = {**raw.get("data", {}), "train": str(path), "eval": None, "eval_fraction": 0.0}
        raw["data"].pop("eval_splits", None)
        recipe = recipe_from_dict(raw, "the job recipe")
        try:
            data = read_recipe_data(recipe)
        except AfinarError as err:
            raise ApiError(400, "invalid_file", str(err).replace(str(path), "the upload")) from None
        return check_recipe_data(recipe, data, tokenizer)

    def delete_file(self, row: FileRow) -> None:
        """Crypto-shred the stored file: its data key is overwritten; no key opens it again."""
        crypto.shred(Path(row.path))
        self.store.mark_deleted(row.id)

    # ------------------------------------------------------------ jobs

    def check_quota(self, caller: Caller) -> None:
        """Raises ApiError 429 when ``caller`` or their role has too many jobs queued, running or paused."""
        mine = self.store.active(owner=caller.name)
        if mine >= self.jobs_per_user:
            why = f"'{caller.name}' has {mine} jobs queued, running or paused (at most {self.jobs_per_user} a user)"
            raise ApiError(429, "quota_exceeded", f"{why}; cancel one or wait", "rate_limit_error")
        theirs = self.store.active(role=caller.role)
        if caller.role != LOCAL and theirs >= self.jobs_per_role:
            why = f"role '{caller.role}' has {theirs} jobs queued, running or paused (at most {self.jobs_per_role})"
            raise ApiError(429, "quota_exceeded", f"{why}; wait for one to end", "rate_limit_error")

    def create_job(self, caller: Caller, model: str, base: str, files: tuple, method: dict, seed, suffix) -> JobRow:
        train, validation = files
        job_id = new_id("ftjob")
        seed = seed if seed is not None else int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:3], "big")
        try:
            recipe, resolved = job_recipe(
                self.template, base, Path(train.path), Path(validation.path) if validation else None, method, seed,
                suffix or "ft", self.jobs_dir,
            )  # fmt: skip
        except AfinarError as err:
            raise ApiError(400, "invalid_hyperparameters", str(err)) from None
        row = JobRow(
            id=job_id, owner=caller.name, role=caller.role, model=model, training_file=train.id,
            validation_file=validation.id if validation else None, suffix=suffix, seed=seed, method=resolved,
            recipe=recipe, status="queued", created_at=int(time.time()), run_dir=str(self.jobs_dir / job_id),
        )  # fmt: skip
        self.store.add_job(row)
        self.dispatch(job_id)
        return row

    def dispatch(self, job_id: str) -> None:
        """Hand a queued job to the workers: PostgreSQL's task queue; on SQLite they find it themselves."""
        if is_postgres(self.store.url):
            dispatch(self.store.url, job_id)

    # ------------------------------------------------------------ workers and publishing

    def start(self, dep) -> None:
        """Start the local workers and the thread that serves each job that succeeds."""
        env = {**os.environ, "AFINAR_REGISTRY": self.store.url}
        for i in range(self.workers):
            cmd = [sys.executable, "-m", "afinar", "worker", "--name", f"local-{os.getpid()}-{i}"]
            self._procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL))
        self._thread = threading.Thread(target=self._publishing, args=(dep,), daemon=True, name="afinar-publish")
        self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        """Stop publishing; ask the local workers to stop (a running job checkpoints and goes back
        to the queue), killing those that have not stopped within ``timeout`` seconds."""
        self._stop.set()
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _publishing(self, dep) -> None:
        while not self._stop.wait(1.0):
            try:
                self.publish(dep)
            except Exception as err:  # the database away for a moment: try again next second
                print(f"afinar: publishing fine-tuned models: {type(err).__name__}: {err}", file=sys.stderr)

    def publish(self, dep) -> list[str]:
        """Serve every succeeded job's model this server does not serve yet; returns their ids."""
        added = []
        for job in self.store.succeeded():
            model = job.fine_tuned_model
            if model in dep.models or model in self._unservable:
                continue
            why = self._serve(dep, job)
            if why is None:
                added.append(model)
            else:
                self._unservable.add(model)
            details = {"job": job.id, "run": job.run_dir, **({"reason": why} if why else {})}
            audit_log().append("serve.adapter.add", model, "allow" if why is None else "error", actor=job.owner,
                               details=details)  # fmt: skip
        return added

    def _serve(self, dep, job: JobRow) -> str | None:
        """Load ``job``'s adapter into the engine; None, or why it cannot be served here."""
        if not hasattr(dep.engine, "add_adapter") or (dep.models.get(job.model) != BASE and job.model != dep.base):
            return f"this server does not serve {job.model} with the PyTorch engine"
        try:
            require_promoted(Path(job.run_dir), "serve", False)
            dep.engine.add_adapter(job.id, Path(job.run_dir) / "adapter").result(timeout=300)
        except Exception as err:
            return f"{type(err).__name__}: {err}"
        dep.models[job.fine_tuned_model] = job.id
        dep.runs[job.fine_tuned_model] = str(Path(job.run_dir).resolve())
        return None

"""``afinar worker``: take fine-tuning jobs from the registry's database and run each as ``afinar
run`` runs a recipe, with the job owner's rights (:func:`afinar.security.access.acting_as`).

A job's training progress becomes its events (a step's loss, each validation loss, the
evaluation and the gate). A cancel or pause request reaches training as SIGTERM does: the
current step ends, a checkpoint is written, and training stops; a paused job resumes from that
checkpoint, on any worker. A worker asked to stop (SIGTERM, Ctrl-C) does the same and puts its
job back in the queue. A job whose gate promotes it succeeds with its ``fine_tuned_model``,
which the servers of its base then serve; a rejected one fails with the gate's reasons.

On one machine (SQLite), a worker also puts back in the queue the jobs of local workers that
died without a word (SIGKILL, a crash); the job resumes from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import yaml

from afinar.atomic import read_json, write_text
from afinar.errors import AfinarError
from afinar.jobstore import JobRow, JobStore
from afinar.names import GATE_METRICS
from afinar.pipeline import evaluate_saved, run
from afinar.security.access import JOB_TOKEN_ENV, acting_as
from afinar.serve.fine_tuning import fine_tuned_id, split_batch
from afinar.train.checkpoint import latest_checkpoint
from afinar.train.distributed import spawn

__all__ = ["Worker"]


class _Watch(threading.Thread):
    """While a job runs: its training progress as events, and its cancel or pause request passed
    on to training by ``interrupt()`` (SIGTERM, which training reads as: checkpoint, then stop;
    it returns False while training is not there to take it)."""

    def __init__(self, store: JobStore, job: JobRow, interrupt):
        super().__init__(daemon=True, name=f"afinar-watch-{job.id}")
        self.store, self.job, self.interrupt = store, job, interrupt
        self.metrics = Path(job.run_dir) / "metrics.jsonl"
        self.reported: set[tuple[int, str]] = set(self._entries()) if self.metrics.is_file() else set()
        self.asked: str | None = None
        self.done = threading.Event()

    def _entries(self) -> dict[tuple[int, str], dict]:
        out = {}
        for line in self.metrics.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line being written
                continue
            for kind in ("loss", "eval_loss"):
                if kind in entry:
                    out[entry["step"], kind] = entry
        return out

    def run(self) -> None:
        while not self.done.wait(1.0):
            self.poll()
        self.poll()

    def poll(self) -> None:
        if self.metrics.is_file():
            for key, entry in sorted(self._entries().items()):
                if key in self.reported:
                    continue
                self.reported.add(key)
                step, kind = key
                if kind == "loss":
                    data = {"step": step, "train_loss": entry["loss"], "tokens_per_s": round(entry["tokens_per_s"])}
                    self.store.event(self.job.id, f"Step {step}: training loss={entry['loss']:.4f}", data=data)
                else:
                    data = {"step": step, "valid_loss": entry["eval_loss"]}
                    self.store.event(self.job.id, f"Step {step}: validation loss={entry['eval_loss']:.4f}", data=data)
        request = self.store.job(self.job.id).request
        if request and self.asked is None and self.interrupt():
            self.asked = request

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    """One worker: claims queued jobs one at a time and runs them in this process."""

    def __init__(self, store: JobStore, name: str | None = None, say=print, nproc: int = 1):
        """``nproc`` > 1: each job trains on that many processes (torchrun + FSDP2, one per GPU),
        then this process evaluates it."""
        if nproc < 1:
            raise AfinarError(f"--nproc {nproc}: accepted: 1 or more processes a job")
        self.store, self.nproc = store, nproc
        self.ranks: subprocess.Popen | None = None
        """torchrun, while a job trains on several processes."""
        self.host = socket.gethostname()
        self.name = f"{self.host}:{os.getpid()}" + (f":{name}" if name else "")
        self.say = say
        self.stopping = False

    def _handler(self, signum, frame) -> None:
        self.stopping = True
        if self.ranks is not None and self.ranks.poll() is None:
            self.ranks.send_signal(signal.SIGTERM)  # the ranks checkpoint; the job goes back to the queue

    def _interrupt(self) -> bool:
        """SIGTERM to the training of the running job, if it is training now (False if not)."""
        if self.nproc > 1:
            if self.ranks is None or self.ranks.poll() is not None:
                return False
            self.ranks.send_signal(signal.SIGTERM)
            return True
        if signal.getsignal(signal.SIGTERM) is self._handler:  # training holds SIGTERM only while it trains
            return False
        os.kill(os.getpid(), signal.SIGTERM)
        return True

    def work(self, once: bool = False, poll: float = 2.0) -> int:
        """Run jobs until asked to stop (or, with ``once``, until the queue is empty); returns
        the number of jobs run."""
        previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        done = 0
        try:
            while not self.stopping:
                self._requeue_orphans()
                job = self.store.claim(self.name)
                if job is None:
                    if once:
                        break
                    time.sleep(poll)
                    continue
                self.run_job(job)
                done += 1
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
        return done

    def run_one(self, job_id: str) -> str | None:
        """Run the job ``job_id`` (as the queue's task does, in a process of its own); returns its
        state after, or None when it was not there to run (cancelled or paused while queued)."""
        previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            job = self.store.take(job_id, self.name)
            return None if job is None else self.run_job(job)
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _requeue_orphans(self) -> None:
        """Jobs running on a worker of this machine whose process is gone go back to the queue."""
        for job in self.store.running():
            host, _, rest = (job.worker or "").partition(":")
            pid = rest.partition(":")[0]
            if host == self.host and pid.isdigit() and not _alive(int(pid)):
                if self.store.set(job.id, ("running",), status="queued", worker=None):
                    self.store.event(job.id, f"Worker {job.worker} died; the job goes back to the queue", "warn")

    def run_job(self, job: JobRow) -> str:
        """Run ``job``; returns its state after: final, ``paused``, or ``queued`` (this worker was
        asked to stop, and the job waits for the next one)."""
        store, run_dir = self.store, Path(job.run_dir)
        resume = latest_checkpoint(run_dir) is not None if run_dir.is_dir() else False
        if run_dir.exists() and not resume:
            shutil.rmtree(run_dir)  # a start that never reached a checkpoint begins again
        recipe_file = run_dir.with_suffix(".yaml")
        try:
            recipe = self._for_world(job.recipe)
        except AfinarError as err:
            return self._end(job, "failed", error={"code": "invalid_job", "message": str(err), "param": None})
        write_text(recipe_file, yaml.safe_dump(recipe, sort_keys=False))
        how = f"resumed from {latest_checkpoint(run_dir).name}" if resume else "started"
        store.event(job.id, f"Fine-tuning job {how} on worker {self.name}")
        self.say(f"afinar worker: {job.id} {how} ({job.owner})")
        watch = _Watch(store, job, self._interrupt)
        watch.start()
        try:
            with acting_as(job.owner):
                summary = self._train_and_evaluate(job, recipe_file, run_dir, resume)
        except AfinarError as err:
            return self._end(job, "failed", error={"code": "invalid_job", "message": str(err), "param": None})
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            message = f"{type(err).__name__}: {err}"
            return self._end(job, "failed", error={"code": "internal_error", "message": message, "param": None})
        finally:
            watch.stop()
        train = summary["train"]
        request = store.job(job.id).request
        if train["interrupted_at"] is not None:
            step = train["interrupted_at"]
            if request == "cancel":
                return self._end(job, "cancelled", f"Job cancelled at step {step}")
            if request == "pause":
                store.set(job.id, status="paused", request=None, worker=None)
                store.event(job.id, f"Job paused at step {step}; resuming continues from its checkpoint")
                return "paused"
            self.stopping = True  # SIGTERM or Ctrl-C, taken by training: this worker stops too
            store.set(job.id, status="queued", worker=None)
            store.event(job.id, f"Worker {self.name} stopped at step {step}; the job goes back to the queue")
            return "queued"
        if request == "cancel":  # asked while it was being evaluated
            return self._end(job, "cancelled", "Job cancelled after training; its model is not served")
        self._report(job, summary)
        gate = read_json(run_dir / "gate.json")
        tokens = train.get("tokens")
        if gate["decision"] != "promoted":
            checks = [c for c in gate["checks"] if c["result"] == "fail"]
            failed = [f"{c['check']}: {c['value']} (limit {c['limit']})" for c in checks]
            message = "the promotion gate rejected the model: " + "; ".join(failed)
            error = {"code": "gate_rejected", "message": message, "param": None}
            return self._end(job, "failed", error=error, trained_tokens=tokens)
        model = fine_tuned_id(job.model, job.suffix, job.id)
        store.event(job.id, f"New fine-tuned model created: {model}")
        return self._end(job, "succeeded", "The job has successfully completed", fine_tuned_model=model,
                         trained_tokens=tokens)  # fmt: skip

    def _for_world(self, recipe: dict) -> dict:
        """The job's recipe for this worker's processes: a step's rows (the job's ``batch_size``)
        shared among them (a run resumed elsewhere keeps them: afinar/train/loop.py)."""
        if self.nproc == 1:
            return recipe
        t = recipe["train"]
        batch = t["micro_batch_size"] * t["grad_accum"]
        if batch % self.nproc:
            raise AfinarError(f"batch_size {batch} cannot be shared by this worker's {self.nproc} processes; give a "
                              f"multiple of {self.nproc}")  # fmt: skip
        micro, accum = split_batch(batch // self.nproc, t["micro_batch_size"])
        return {**recipe, "train": {**t, "micro_batch_size": micro, "grad_accum": accum}}

    def _train_and_evaluate(self, job: JobRow, recipe_file: Path, run_dir: Path, resume: bool) -> dict:
        """``afinar run``'s path for the job; its summary."""
        if self.nproc == 1:
            return run(recipe_file, run_dir, show_progress=False, resume=resume)
        token = secrets.token_urlsafe(32)  # the ranks act as the job's owner by it, while the job runs
        self.store.set(job.id, token_digest=hashlib.sha256(token.encode()).hexdigest())
        args = ["--resume", str(run_dir)] if resume else [str(recipe_file), "--run-dir", str(run_dir)]
        summary_file = run_dir / "summary.json"
        before = summary_file.stat().st_mtime if summary_file.is_file() else None
        try:
            self.ranks = spawn(self.nproc, [*args, "--quiet"], env={JOB_TOKEN_ENV: token})
            code = self.ranks.wait()
        finally:
            self.ranks = None
            self.store.set(job.id, token_digest=None)
        written = summary_file.is_file() and summary_file.stat().st_mtime != before
        summary = read_json(summary_file) if written else None
        if summary is not None and summary["train"]["interrupted_at"] is not None:
            return summary  # stopped by SIGTERM: torchrun's status says the ranks were stopped
        if code != 0 or summary is None:
            raise AfinarError(f"training on {self.nproc} processes failed (torchrun exit {code}); the ranks' "
                              "messages are in the worker's output")  # fmt: skip
        return evaluate_saved(run_dir, show_progress=False)

    def _report(self, job: JobRow, summary: dict) -> None:
        scores = summary.get("eval") or {}
        rates = {m: {k: v for k, v in scores.get(m, {}).items() if k in GATE_METRICS} for m in ("base", "tuned")}
        if rates["tuned"]:
            shown = ", ".join(f"{k} {v:.3f}" + (f" (base {rates['base'][k]:.3f})" if k in rates["base"] else "")
                              for k, v in sorted(rates["tuned"].items()))  # fmt: skip
            self.store.event(job.id, f"Evaluation on the validation rows: {shown}", data=rates)
        gate = summary.get("gate") or {}
        for check in gate.get("checks", []):
            line = f"Gate {check['result']}: {check['check']} {check['value']} (limit {check['limit']})"
            self.store.event(job.id, line, "info" if check["result"] != "fail" else "warn")
        self.store.event(job.id, f"Gate decision: {gate.get('decision')}")

    def _end(self, job: JobRow, status: str, message: str | None = None, **values) -> str:
        self.store.set(job.id, status=status, finished_at=int(time.time()), request=None, **values)
        if message or "error" in values:
            level = "error" if status == "failed" else "info"
            self.store.event(job.id, message or values["error"]["message"], level)
        self.say(f"afinar worker: {job.id} {status}")
        return status

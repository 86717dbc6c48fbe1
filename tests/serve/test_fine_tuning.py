"""The fine-tuning service through the official ``openai`` SDK against a real server on loopback:
upload, a job on the bundled base run by a real ``afinar worker`` process, its events, the
fine-tuned model served without a restart; grants, refusals and the audit log."""

from __future__ import annotations

import json
import time

import openai
import pytest
import torch
import yaml
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import alpaca_rows, registry_users
from tests.serve.conftest import audit_records

JOB_RECIPE = {
    "name": "ft",
    "data": {"max_seq_len": 128, "eval_fraction": 0.2},
    "adapter": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
    "optim": {"lr": 2.0e-4, "warmup_steps": 0},
    "train": {"micro_batch_size": 4, "epochs": 1, "checkpoint_interval": 2, "precision": "fp32"},
    # the gate judges a threshold (it refuses a model on which nothing was measured)
    "eval": {
        "metric": "rouge_l",
        "max_new_tokens": 16,
        "benchmarks": {"enabled": False},
        "gate": {"min": {"rouge_l": 0.0}},
    },
}
PROMPT = "Add 3 and 4."


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A registry with alice and bob (ml_engineer), a key, and ``afinar serve --model default
    --fine-tuning`` with one local worker, on loopback; yields (url, deployment, keys, home)."""
    from afinar.serve.server import ServeOptions, build, serving

    home = tmp_path_factory.mktemp("ft-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("AFINAR_HOME", str(home))
    keys = registry_users(alice="ml_engineer", bob="ml_engineer")
    recipe = home / "job-recipe.yaml"
    recipe.write_text(yaml.safe_dump(JOB_RECIPE))
    dep = build(ServeOptions(model="default", fine_tuning=True, job_recipe=recipe, workers=1, max_tokens=16))
    with serving(dep) as url:
        dep.fine_tuning.start(dep)
        try:
            yield url, dep, keys, home
        finally:
            dep.fine_tuning.close()
            dep.engine.close()
            patch.undo()


def _client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{url}/v1", max_retries=0, timeout=120)


def _wait(client: openai.OpenAI, job_id: str, seconds: float = 600):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(1)
    raise AssertionError(f"{job_id} still {job.status} after {seconds} s")


def _reference_answer(run_dir, bundled_dir) -> str:
    """The job's adapter on the base, loaded with transformers + PEFT and decoded greedily here."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bundled_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(bundled_dir), run_dir / "adapter").eval()
    ids = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]  # fmt: skip
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=8, do_sample=False)
    return tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_the_whole_path_through_the_openai_sdk(service, bundled_dir):
    url, _, keys, home = service
    alice, bob = _client(url, keys["alice"]), _client(url, keys["bob"])
    upload = alice.files.create(file=("sums.jsonl", _jsonl(alpaca_rows(20))), purpose="fine-tune")
    assert upload.object == "file" and upload.purpose == "fine-tune" and upload.filename == "sums.jsonl"
    assert upload.afinar["rows"] == 20 and upload.afinar["pii"] == {}  # what the data check found
    stored = list((home / "files").iterdir())
    assert [p.name for p in stored] == [f"{upload.id}.jsonl.afe"]  # encrypted at rest, nothing else
    assert b"Add 3 and 4" not in stored[0].read_bytes()

    job = alice.fine_tuning.jobs.create(
        model="base", training_file=upload.id, suffix="sums", seed=3,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4,
                                                                         "learning_rate_multiplier": 10}}},
    )  # fmt: skip
    assert job.object == "fine_tuning.job" and job.status == "queued"
    assert job.hyperparameters.n_epochs == 1 and job.hyperparameters.batch_size == 4

    # bob holds no grant on alice's file: refused, and the refusal is in the audit log
    with pytest.raises(openai.PermissionDeniedError):
        bob.fine_tuning.jobs.create(model="base", training_file=upload.id)
    with pytest.raises(openai.PermissionDeniedError):
        bob.files.retrieve(upload.id)
    denied = [r for r in audit_records("fine_tuning.job.create") if r["decision"] == "deny"]
    assert [(r["actor"], r["details"]["status"]) for r in denied] == [("bob", 403)]
    assert [j.id for j in bob.fine_tuning.jobs.list()] == []

    done = _wait(alice, job.id)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model == f"ft:base:sums:{job.id.removeprefix('ftjob-')}"
    assert done.trained_tokens > 0
    events = list(alice.fine_tuning.jobs.list_events(job.id, limit=100))
    steps = [e for e in events if e.type == "metrics" and e.data and "train_loss" in e.data]
    assert sorted(e.data["step"] for e in steps) == [1, 2, 3, 4]  # 16 training rows, 4 a step, one epoch
    assert events[0].message == "The job has successfully completed"
    assert any(e.message == "Gate decision: promoted" for e in events)
    metrics = [json.loads(line) for line in (home / "jobs" / job.id / "metrics.jsonl").read_text().splitlines()]
    assert {e.data["step"]: e.data["train_loss"] for e in steps} == {
        m["step"]: m["loss"] for m in metrics if "loss" in m
    }

    deadline = time.monotonic() + 60  # the server loads the adapter once the job has succeeded
    while done.fine_tuned_model not in [m.id for m in alice.models.list()] and time.monotonic() < deadline:
        time.sleep(0.5)
    ask = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8, "temperature": 0}
    tuned = alice.chat.completions.create(model=done.fine_tuned_model, **ask).choices[0].message.content
    base = alice.chat.completions.create(model="base", **ask).choices[0].message.content
    assert tuned == _reference_answer(home / "jobs" / job.id, bundled_dir)
    assert tuned != base

    checkpoints = list(alice.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [4]
    assert [j.id for j in alice.fine_tuning.jobs.list()] == [job.id]

    deleted = alice.files.delete(upload.id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(upload.id)
    out = CliRunner().invoke(app, ["audit", "verify"], env={"AFINAR_API_KEY": keys["root"]})
    assert out.exit_code == 0, out.output


@pytest.mark.parametrize(
    ("content", "where", "what"),
    [
        (_jsonl(alpaca_rows(3)) + b'{"instruction": "Add 1 and 2.", "output": \n', "sums.jsonl:4", "JSON"),
        (_jsonl([*alpaca_rows(2), {"instruction": "Add 5 and 6.", "input": ""}]), "sums.jsonl:3", "output"),
    ],
    ids=["bad-json", "no-answer"],
)
def test_a_malformed_upload_is_refused_with_its_line_and_leaves_nothing(service, content, where, what):
    url, _, keys, home = service
    before = sorted((home / "files").iterdir())
    with pytest.raises(openai.BadRequestError) as err:
        _client(url, keys["alice"]).files.create(file=("sums.jsonl", content), purpose="fine-tune")
    message = err.value.body["message"]
    assert where in message and what in message, message
    assert sorted((home / "files").iterdir()) == before
    refused = audit_records("files.upload")[-1]
    assert (refused["actor"], refused["decision"], refused["details"]["status"]) == ("alice", "reject", 400)


def _until(client: openai.OpenAI, job_id: str, check, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = list(client.fine_tuning.jobs.list_events(job_id, limit=200))
        job = client.fine_tuning.jobs.retrieve(job_id)
        if check(job, events):
            return job, events
        time.sleep(0.5)
    raise AssertionError(f"{job_id}: {job.status}, {[e.message for e in events[:5]]}")


def _last_step(events) -> int:
    return max((e.data["step"] for e in events if e.type == "metrics" and e.data and "train_loss" in e.data), default=0)


def test_pause_resume_cancel_and_quotas(service):
    url, _, keys, _ = service
    alice = _client(url, keys["alice"])
    upload = alice.files.create(file=("long.jsonl", _jsonl(alpaca_rows(20, start=200))), purpose="fine-tune")
    job = alice.fine_tuning.jobs.create(model="base", training_file=upload.id, hyperparameters={"n_epochs": 12})
    _until(alice, job.id, lambda j, ev: _last_step(ev) >= 2)

    # a second job waits in the queue (one local worker); a third is over the quota of two
    queued = alice.fine_tuning.jobs.create(model="base", training_file=upload.id)
    with pytest.raises(openai.RateLimitError) as over:
        alice.fine_tuning.jobs.create(model="base", training_file=upload.id)
    assert "at most 2 a user" in over.value.body["message"]
    assert alice.fine_tuning.jobs.cancel(queued.id).status == "cancelled"  # never started: at once

    assert alice.fine_tuning.jobs.pause(job.id).status == "running"  # asked; the worker stops after the step
    _, events = _until(alice, job.id, lambda j, ev: j.status == "paused")
    at = _last_step(events)
    assert events[0].message.startswith(f"Job paused at step {at};"), [e.message for e in events]
    assert [c.step_number for c in alice.fine_tuning.jobs.checkpoints.list(job.id)] == [at]

    assert alice.fine_tuning.jobs.resume(job.id).status == "queued"
    _, events = _until(alice, job.id, lambda j, ev: _last_step(ev) >= at + 2)
    assert any(e.message.startswith(f"Fine-tuning job resumed from step-{at:06d} on worker") for e in events)
    alice.fine_tuning.jobs.cancel(job.id)
    done, events = _until(alice, job.id, lambda j, ev: j.status == "cancelled")
    stopped = _last_step(events)
    assert stopped > at and events[0].message == f"Job cancelled at step {stopped}"
    assert done.fine_tuned_model is None and done.finished_at is not None
    with pytest.raises(openai.ConflictError):
        alice.fine_tuning.jobs.cancel(job.id)
    assert not any(m.id.startswith("ft:") and job.id.removeprefix("ftjob-") in m.id for m in alice.models.list())

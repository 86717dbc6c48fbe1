"""The fine-tuning service on PostgreSQL when a worker dies: two ``afinar worker`` processes, ten
queued jobs, one worker SIGKILLed in the middle of a job. Every job succeeds, none runs twice to
completion, the resumed job's adapter equals an uninterrupted one's, and the audit log verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import openai
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import alpaca_rows, registry_users

JOB_RECIPE = {
    "name": "ft",
    "data": {"max_seq_len": 64, "eval_fraction": 0.05},
    "adapter": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
    "optim": {"lr": 1.0e-3, "warmup_steps": 0},
    "train": {"micro_batch_size": 2, "epochs": 1, "checkpoint_interval": 5, "precision": "fp32"},
    "eval": {"metric": "rouge_l", "max_new_tokens": 4, "compare_base": False, "benchmarks": {"enabled": False},
             "gate": {"min": {"rouge_l": 0.0}}},
}  # fmt: skip
JOBS = 10


def _worker(name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "AFINAR_API_KEY"}
    cmd = [sys.executable, "-m", "afinar", "worker", "--name", name, "--heartbeat", "1", "--stalled-after", "4"]
    return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)


def _steps(run_dir) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    return max((json.loads(line)["step"] for line in path.read_text().splitlines() if '"loss"' in line), default=0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_killed_mid_job_loses_its_job_to_another_which_resumes_it_exactly(
    tmp_path, monkeypatch, postgres_database, tiny_model_dir
):
    from afinar.jobstore import JobStore
    from afinar.security.audit import audit_log
    from afinar.serve.server import ServeOptions, build, serving

    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AFINAR_REGISTRY", postgres_database)
    keys = registry_users(alice="ml_engineer")
    root, alice_key = keys["root"], keys["alice"]
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(JOB_RECIPE))
    dep = build(ServeOptions(model=str(tiny_model_dir), fine_tuning=True, job_recipe=tmp_path / "job.yaml",
                             workers=0, jobs_per_user=JOBS, jobs_per_role=JOBS))  # fmt: skip
    workers = {}
    try:
        with serving(dep) as url:
            alice = openai.OpenAI(api_key=alice_key, base_url=f"{url}/v1", max_retries=0, timeout=60)
            data = "".join(json.dumps(r) + "\n" for r in alpaca_rows(126)).encode()
            upload = alice.files.create(file=("sums.jsonl", data), purpose="fine-tune")
            hp = {"n_epochs": 1, "batch_size": 2}
            ids = [alice.fine_tuning.jobs.create(model="base", training_file=upload.id, seed=5, hyperparameters=hp).id
                   for _ in range(JOBS)]  # fmt: skip
            workers = {name: _worker(name) for name in ("w1", "w2")}
            store = JobStore(postgres_database)

            killed, child = None, None
            deadline = time.monotonic() + 300
            while killed is None and time.monotonic() < deadline:
                for job in store.running():
                    if (job.worker or "").endswith(":w1") and 7 <= _steps(tmp_path / "home" / "jobs" / job.id) <= 45:
                        os.kill(workers["w1"].pid, signal.SIGKILL)
                        killed, child = job.id, int(job.worker.split(":")[1])
                        break
                time.sleep(0.05)
            assert killed is not None, "no job of w1 was caught mid-training"
            workers["w1"].wait(timeout=30)

            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                jobs = [alice.fine_tuning.jobs.retrieve(i) for i in ids]
                if all(j.status in ("succeeded", "failed", "cancelled") for j in jobs):
                    break
                time.sleep(1)
            assert [j.status for j in jobs] == ["succeeded"] * JOBS, [j.error for j in jobs]
            time.sleep(0.5)
            assert not _alive(child)  # the killed worker's job process died with it

            rows = {i: store.job(i) for i in ids}
            assert rows[killed].attempts == 2 and all(r.attempts == 1 for i, r in rows.items() if i != killed)
            events = [e.message for e in alice.fine_tuning.jobs.list_events(killed, limit=200)]
            assert any(m.startswith("Fine-tuning job resumed from step-") for m in events), events
            for i in ids:  # none ran to completion twice
                messages = [e.message for e in alice.fine_tuning.jobs.list_events(i, limit=200)]
                assert messages.count("The job has successfully completed") == 1
            ends = [r["resource"] for r in audit_log().records() if r["action"] == "train.end"]
            assert sorted(ends) == sorted(rows[i].run_dir for i in ids)

            resumed = load_file(f"{rows[killed].run_dir}/adapter/adapter_model.safetensors")
            other = next(i for i in ids if i != killed)
            whole = load_file(f"{rows[other].run_dir}/adapter/adapter_model.safetensors")
            assert resumed.keys() == whole.keys() and len(resumed) > 0
            assert max((resumed[k] - whole[k]).abs().max().item() for k in resumed) <= 1e-6  # as the resume test
            assert max(v.abs().max().item() for k, v in resumed.items() if "lora_B" in k) > 1e-4
        verified = CliRunner().invoke(app, ["audit", "verify"], env={"AFINAR_API_KEY": root})
        assert verified.exit_code == 0, verified.output
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        dep.engine.close()


def test_a_worker_asked_to_stop_checkpoints_its_job_for_the_next_worker(
    tmp_path, monkeypatch, postgres_database, tiny_model_dir, tokenizer
):
    from afinar.registry import Caller, access_registry
    from afinar.serve.fine_tuning import FineTuning

    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AFINAR_REGISTRY", postgres_database)
    registry_users(alice="ml_engineer")
    registry = access_registry()
    ft = FineTuning.open(registry.url, registry, None)
    ft.template = JOB_RECIPE
    alice = Caller("alice", "ml_engineer")
    data = "".join(json.dumps(r) + "\n" for r in alpaca_rows(126)).encode()
    upload = ft.upload(alice, "sums.jsonl", data, "fine-tune", tokenizer)
    method = {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 2}}}
    job = ft.create_job(alice, "base", str(tiny_model_dir), (upload, None), method, 5, "stop")  # and dispatched
    run_dir = tmp_path / "home" / "jobs" / job.id
    first, second = _worker("w1"), None
    try:
        deadline = time.monotonic() + 300
        while _steps(run_dir) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=120) == 0
        row = ft.store.job(job.id)
        messages = [e.message for e in ft.store.events(job.id, limit=200).rows]
        assert row.status == "queued", messages
        stopped = next(m for m in messages if " stopped at step " in m)
        step = int(stopped.split(" stopped at step ")[1].split(";")[0])
        second = _worker("w2")
        deadline = time.monotonic() + 300
        while ft.store.job(job.id).status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=120)
        row = ft.store.job(job.id)
        messages = [e.message for e in ft.store.events(job.id, limit=300).rows]
        assert row.status == "succeeded" and row.attempts == 2, (row.error, messages)
        assert any(m.startswith(f"Fine-tuning job resumed from step-{step:06d} on worker") for m in messages)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()

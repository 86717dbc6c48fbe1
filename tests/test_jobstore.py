"""The fine-tuning service's state on SQLite and PostgreSQL: pagination as OpenAI pages, a
queued job claimed by one worker only, quotas per user and per role; and how OpenAI's
hyperparameters become a recipe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from afinar.jobstore import JobRow, JobStore
from afinar.registry import Caller
from afinar.serve.auth import ApiError
from afinar.serve.fine_tuning import DEFAULT_RECIPE, FineTuning, job_recipe


def _job(i: int, owner: str = "alice", role: str = "ml_engineer", status: str = "queued") -> JobRow:
    return JobRow(
        id=f"ftjob-{i:04d}", owner=owner, role=role, model="base", training_file="file-x", seed=1,
        method={"type": "supervised", "supervised": {"hyperparameters": {}}}, recipe={}, status=status,
        created_at=1_000 + i,
    )  # fmt: skip


def test_jobs_and_events_page_newest_first(registry_url):
    store = JobStore(registry_url)
    for i in range(5):
        store.add_job(_job(i))
    first = store.jobs(limit=2)
    assert [j.id for j in first.rows] == ["ftjob-0004", "ftjob-0003"] and first.has_more
    rest = store.jobs(after="ftjob-0003", limit=10)
    assert [j.id for j in rest.rows] == ["ftjob-0002", "ftjob-0001", "ftjob-0000"] and not rest.has_more
    assert store.jobs(owner="bob").rows == []
    for n in range(3):
        store.event("ftjob-0000", f"event {n}")
    page = store.events("ftjob-0000", limit=2)  # "Created ..." and three more, newest first
    assert [e.message for e in page.rows] == ["event 2", "event 1"] and page.has_more
    older = store.events("ftjob-0000", after=f"ftevent-{page.rows[-1].id}", limit=10)
    assert [e.message for e in older.rows] == ["event 0", "Created fine-tuning job: ftjob-0000"]


def test_a_queued_job_is_claimed_by_one_worker_only(registry_url):
    store = JobStore(registry_url)
    for i in range(6):
        store.add_job(_job(i))
    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(lambda w: [j.id for j in iter(lambda: store.claim(f"w{w}"), None)], range(4)))
    everything = [job for worker in claimed for job in worker]
    assert sorted(everything) == [f"ftjob-{i:04d}" for i in range(6)]  # each once
    assert {store.job(j).status for j in everything} == {"running"}
    assert store.claim("late") is None


def test_quotas_count_queued_running_and_paused_jobs_per_user_and_per_role(registry_url, tmp_path):
    store = JobStore(registry_url)
    ft = FineTuning(store, None, DEFAULT_RECIPE, tmp_path, tmp_path, jobs_per_user=2, jobs_per_role=3)
    alice, bob = Caller("alice", "ml_engineer"), Caller("bob", "ml_engineer")
    store.add_job(_job(0, status="running"))
    store.add_job(_job(1, status="succeeded"))  # over: does not count
    ft.check_quota(alice)
    store.add_job(_job(2, status="paused"))
    with pytest.raises(ApiError) as err:
        ft.check_quota(alice)
    assert err.value.status == 429 and "at most 2 a user" in err.value.message
    store.add_job(_job(3, owner="bob"))
    with pytest.raises(ApiError) as err:
        ft.check_quota(bob)  # bob has one, but ml_engineers have three
    assert "role 'ml_engineer' has 3" in err.value.message
    ft.check_quota(Caller("carol", "admin"))


@pytest.mark.parametrize(
    ("hp", "micro", "accum", "lr", "epochs"),
    [
        ({}, 4, 2, 2.0e-4, 3),  # auto: the job recipe's
        ({"batch_size": 12, "learning_rate_multiplier": 0.5, "n_epochs": 2}, 4, 3, 1.0e-4, 2),
        ({"batch_size": 3}, 3, 1, 2.0e-4, 3),
        ({"batch_size": 7}, 1, 7, 2.0e-4, 3),  # 7 rows a step: micro-batches of 1 (7 is prime)
    ],
)
def test_hyperparameters_become_the_recipe(tmp_path, hp, micro, accum, lr, epochs):
    method = {"type": "supervised", "supervised": {"hyperparameters": hp}}
    recipe, resolved = job_recipe(DEFAULT_RECIPE, "default", tmp_path / "t.jsonl", None, method, 9, "sales", tmp_path)
    t = recipe["train"]
    assert (t["micro_batch_size"], t["grad_accum"], t["epochs"], t["seed"]) == (micro, accum, epochs, 9)
    assert recipe["optim"]["lr"] == pytest.approx(lr)
    multiplier = hp.get("learning_rate_multiplier", 1.0)
    want = {"n_epochs": epochs, "batch_size": micro * accum, "learning_rate_multiplier": multiplier}
    assert resolved["supervised"]["hyperparameters"] == want
    assert recipe["data"]["train"] == str(tmp_path / "t.jsonl") and recipe["name"] == "sales"


def test_a_dpo_job_trains_on_pairs_with_its_beta(tmp_path):
    method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.25}}}
    recipe, resolved = job_recipe(DEFAULT_RECIPE, "default", tmp_path / "p.jsonl", None, method, 1, "ft", tmp_path)
    t, d = recipe["train"], recipe["data"]
    assert (t["objective"], t["beta"], d["format"]) == ("dpo", 0.25, "preference")
    assert resolved["dpo"]["hyperparameters"]["beta"] == 0.25

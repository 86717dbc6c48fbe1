"""The pages under /ui in a real browser (Playwright driving Debian's Chromium) against a real
server on loopback: log in, the runs list, a finished run's gate decision and metric read from
the page and compared with the run's files, a fine-tuning job followed to its end, the audit
page reporting a tampered log to an auditor, a viewer refused a download (and the refusal
audited), and a planted e-mail address shown masked."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import yaml
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import alpaca_rows, needs_system, registry_users, tiny_recipe

pytestmark = needs_system("chromium", "chromium")

JOB_RECIPE = {
    "name": "ft",
    "data": {"max_seq_len": 64, "eval_fraction": 0.1},
    "adapter": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
    "optim": {"lr": 1.0e-3, "warmup_steps": 0},
    "train": {"micro_batch_size": 2, "epochs": 3, "precision": "fp32"},
    "eval": {"metric": "rouge_l", "max_new_tokens": 4, "compare_base": False, "benchmarks": {"enabled": False},
             "gate": {"min": {"rouge_l": 0.0}}},
}  # fmt: skip
EMAIL = "maria.lopez@norvia-retail.es"


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_model_dir):
    """Users of four roles, a finished tiny run, and ``afinar serve --fine-tuning`` (with ``--pii
    off``: prompts pass unmasked to the model) with one worker, on loopback."""
    from afinar.pipeline import run
    from afinar.serve.server import ServeOptions, build, serving

    tmp = tmp_path_factory.mktemp("ui")
    patch = pytest.MonkeyPatch()
    patch.setenv("AFINAR_HOME", str(tmp / "home"))
    patch.setenv("AFINAR_REGISTRY", str(tmp / "registry.db"))
    keys = registry_users(alice="ml_engineer", aud="auditor", vic="viewer")
    patch.setenv("AFINAR_API_KEY", keys["alice"])
    recipe = tiny_recipe(tmp, tiny_model_dir, train={"max_steps": 6, "eval_interval": 3}, output_dir=str(tmp / "runs"))
    run(recipe, tmp / "runs" / "tiny-run", show_progress=False)
    patch.delenv("AFINAR_API_KEY")
    (tmp / "job.yaml").write_text(yaml.safe_dump(JOB_RECIPE))
    dep = build(ServeOptions(model=str(tiny_model_dir), fine_tuning=True, job_recipe=tmp / "job.yaml", workers=1,
                             runs_dirs=[tmp / "runs"], pii="off", max_tokens=8))  # fmt: skip
    with serving(dep) as url:
        dep.fine_tuning.start(dep)
        try:
            yield url, keys, tmp, dep
        finally:
            dep.fine_tuning.close()
            dep.engine.close()
            patch.undo()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _login(browser, url: str, key: str):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{url}/ui/")
    assert page.url.endswith("/ui/login")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ui/")
    return page


def _audit(action: str) -> list[dict]:
    from afinar.security.audit import audit_log

    return [r for r in audit_log().records() if r["action"] == action]


def test_log_in_and_read_a_finished_run_as_its_files_say(site, browser):
    url, keys, tmp, _ = site
    bad = browser.new_page()
    bad.goto(f"{url}/ui/login")
    bad.fill("#api_key", "afk_not-a-key")
    bad.click("button[type=submit]")
    assert "unknown or disabled" in bad.inner_text("[role=alert]")
    assert _audit("ui.login")[-1]["decision"] == "deny"

    page = _login(browser, url, keys["alice"])
    assert page.locator("table.list tbody tr").count() == 1
    page.click("text=tiny-run")
    run_dir = tmp / "runs" / "tiny-run"
    gate = json.loads((run_dir / "gate.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert page.inner_text("#decision") == gate["decision"]
    assert page.inner_text("#key-metric") == f"train loss {summary['train']['train_loss']:.3f}"
    checks = page.inner_text("#evaluation")  # the gate checks are the model card's table
    assert all(c["check"] in checks for c in gate["checks"])
    loss = page.locator("#chart-loss")
    assert loss.get_attribute("role") == "img" and "eval loss: 2 points" in page.text_content("#chart-loss-desc")
    with page.expect_download() as got:
        page.click("#download-adapter")
    assert got.value.suggested_filename == "tiny-run-adapter.zip"
    assert [r["decision"] for r in _audit("ui.download")][-1:] == ["allow"]
    for width in (1280, 375):  # a laptop and a phone: the page never scrolls sideways (wide tables scroll inside)
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_viewer_is_refused_the_download_and_the_refusal_is_audited(site, browser):
    url, keys, _, _ = site
    page = _login(browser, url, keys["vic"])
    page.goto(f"{url}/ui/runs/tiny-run")
    assert "may not download" in page.inner_text("#downloads")
    response = page.goto(f"{url}/ui/runs/tiny-run/adapter.zip")
    assert response.status == 403 and "needs 'export'" in page.inner_text("[role=alert]")
    refused = _audit("ui.download")[-1]
    assert (refused["actor"], refused["decision"], refused["resource"]) == ("vic", "deny", "tiny-run/adapter.zip")
    assert page.goto(f"{url}/ui/audit").status == 403  # the audit log is for audit:read
    out = CliRunner().invoke(app, ["users", "disable", "vic"], env={"AFINAR_API_KEY": keys["root"]})
    assert out.exit_code == 0, out.output
    page.goto(f"{url}/ui/")
    assert page.url.endswith("/ui/login")  # a disabled user's session ends at the next page


def test_a_running_job_is_followed_to_its_end(site, browser):
    import openai

    url, keys, _, _ = site
    client = openai.OpenAI(api_key=keys["alice"], base_url=f"{url}/v1", max_retries=0)
    data = "".join(json.dumps(r) + "\n" for r in alpaca_rows(40)).encode()
    upload = client.files.create(file=("sums.jsonl", data), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="base", training_file=upload.id, suffix="ui")
    page = _login(browser, url, keys["alice"])
    page.goto(f"{url}/ui/jobs/{job.id}")
    seen = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # the page refreshes itself while the job is active
        seen.add(page.inner_text("#status"))
        if "succeeded" in seen or "failed" in seen:
            break
        page.wait_for_timeout(500)
    assert page.inner_text("#status") == "succeeded" and {"queued", "running"} & seen
    assert page.inner_text("#fine-tuned-model") == client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    page.goto(f"{url}/ui/jobs")
    assert "succeeded" in page.locator(f"tr:has-text('{job.id}')").inner_text()


def test_the_audit_page_masks_personal_data_and_reports_a_tampered_log(site, browser):
    import httpx2

    url, keys, tmp, _ = site
    ask = {"model": "base", "messages": [{"role": "user", "content": f"Write to {EMAIL} about May"}], "max_tokens": 4}
    answer = httpx2.post(f"{url}/v1/chat/completions", json=ask, headers={"Authorization": f"Bearer {keys['alice']}"})
    assert answer.status_code == 200
    page = _login(browser, url, keys["aud"])
    page.goto(f"{url}/ui/audit?action=serve.chat")
    assert "The audit log verifies" in page.inner_text("#verify")
    text = page.inner_text("main")
    assert EMAIL not in text and "Write to [EMAIL] about May" in text  # the server masked it (even with --pii off)
    # a record that holds the address itself (another writer, an older afinar): the page masks it
    from afinar.security.audit import audit_log

    audit_log().append("note", "ui-test", "allow", actor="root", details={"comment": f"call {EMAIL} today"})
    log = tmp / "home" / "audit" / "log.jsonl"
    assert EMAIL in log.read_text()
    page.goto(f"{url}/ui/audit?action=note")
    text = page.inner_text("main")
    assert EMAIL not in text and "call" in text and "today" in text

    lines = log.read_text().splitlines()
    first = json.loads(lines[0])
    first["actor"] = "mallory"
    log.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    page.goto(f"{url}/ui/audit")
    verdict = page.inner_text("#verify")
    assert verdict.startswith("TAMPERED") and "line 1" in verdict

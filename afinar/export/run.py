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
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gguf
import torch
from transformers import AutoModelForCausalLM

from afinar.atomic import atomic_path, write_json, write_text
from afinar.data.intake import rows_as_trained
from afinar.data.read import Example
from afinar.data.render import prompt_ids, prompt_text, render
from afinar.errors import AfinarError
from afinar.eval.gate import require_promoted
from afinar.export.gguf import QUANTS, read_weights, write_gguf
from afinar.export.lora_gguf import base_weights, load_base_weights, lora_pairs, round_like_file, write_lora_gguf
from afinar.export.modelfile import modelfile
from afinar.lineage import sha256_file
from afinar.model.generate import generate_ids
from afinar.model.llamacpp import LlamaCpp
from afinar.model.load import resolve_base
from afinar.model.tuned import load_tuned
from afinar.names import MERGEABLE
from afinar.run_folder import load_run
from afinar.security.access import authorize, digests, record

__all__ = ["FORMATS", "export_run"]

FORMATS = ("hf", "gguf", "gguf-lora")
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


def _load_file(model, path: Path) -> None:
    """The weights of the GGUF ``path`` into ``model``, in place."""
    model.load_state_dict(read_weights(path, model), strict=False)


def _perplexity_change(model, load_file_weights, tokenizer, rows: list[Example], max_len: int) -> dict:
    """The trained ``model``'s perplexity on ``rows`` (each cut to ``max_len`` tokens), and that
    of the exported file's weights, which ``load_file_weights()`` puts into ``model`` (it holds
    them after this)."""
    ids = [render(tokenizer, ex).input_ids[:max_len] for ex in rows]
    trained, tokens = _perplexity(model, ids)
    load_file_weights()
    exported, _ = _perplexity(model, ids)
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
    base_gguf: Path | None = None,
) -> dict:
    """Export ``run_dir``'s tuned model; returns what ``export.json`` holds.

    ``gguf-lora`` writes the adapter alone as a GGUF LoRA file (:mod:`afinar.export.lora_gguf`)
    and, unless ``base_gguf`` names one to apply it to, the unmerged base as a GGUF ``quant`` next
    to it; the pair is verified in llama.cpp as a merged GGUF is.

    Raises:
        AfinarError: bad arguments, a merge that changes the logits, or (f32/f16) a GGUF whose
        llama.cpp output differs from PyTorch's.
    """
    if fmt not in FORMATS:
        raise AfinarError(f"--format {fmt}: accepted: {', '.join(FORMATS)}")
    if fmt != "hf" and quant not in QUANTS:
        raise AfinarError(f"--quant {quant}: accepted: {', '.join(QUANTS)}")
    if base_gguf is not None and fmt != "gguf-lora":
        raise AfinarError("--base-gguf goes with --format gguf-lora (the base a LoRA adapter file is applied to)")
    if base_gguf is not None and not Path(base_gguf).is_file():
        raise AfinarError(f"--base-gguf {base_gguf}: file not found")
    run_dir = Path(run_dir)
    recipe = load_run(run_dir)
    if fmt == "gguf-lora" and recipe.adapter.method != "lora":
        raise AfinarError(
            f"{run_dir}: --format gguf-lora exports LoRA adapters (llama.cpp applies low-rank pairs only); this run's"
            f" method is {recipe.adapter.method}: export it merged with --format gguf"
        )
    if recipe.adapter.method not in MERGEABLE:
        raise AfinarError(
            f"{run_dir}: {recipe.adapter.method} adapters cannot be merged into the base weights (a nonlinearity"
            f" sits between them), so there is no merged or GGUF export; serve the run as it is with"
            f" 'afinar serve --run {run_dir}', or train with adapter.method: lora or dora to export"
        )
    actor = authorize("export", "export", recipe.data.files)
    require_promoted(run_dir, "export", force)
    default = {"gguf": f"gguf-{quant}", "gguf-lora": "gguf-lora", "hf": "hf"}[fmt]
    out = Path(out) if out else run_dir / "export" / default
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
    if fmt == "gguf-lora":
        texts = [prompt_text(tokenizer, c) for c in conversations]
        check = Check(ids, texts, reference, held[:PERPLEXITY_ROWS], split)
        info = _export_lora(run_dir, model, tokenizer, recipe, check, out, quant, base_gguf, verify, max_new_tokens,
                            actor)  # fmt: skip
        info["seconds"] = round(time.perf_counter() - start, 1)
        write_json(Path(info["adapter"]["path"]).with_suffix(".export.json"), info)
        record("export", str(run_dir), actor, digests=digests([Path(f) for f in info["files"]]),
               details={k: info[k] for k in ("format", "prompts")})  # fmt: skip
        return info
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
                load = partial(_load_file, merged, tmp)
                ppl = _perplexity_change(merged, load, tokenizer, held[:PERPLEXITY_ROWS], recipe.data.max_seq_len)
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


@dataclass
class Check:
    """What an export is verified on."""

    ids: list[list[int]]
    """The prompts, as training tokenized them."""
    texts: list[str]
    """The same prompts as text, for llama.cpp to tokenize."""
    reference: list[list[int]]
    """The trained model's greedy answers to ``ids``."""
    rows: list[Example]
    """Held-out rows the perplexity is measured on."""
    split: str


def _matrix_types(path: Path) -> str:
    """The GGUF type of the matrices in ``path``: ``f32``, ``f16``, or the quantized types found."""
    kinds = {t.tensor_type.name.lower() for t in gguf.GGUFReader(path).tensors if len(t.shape) > 1}
    if kinds <= {"f32"}:
        return "f32"
    return "f16" if kinds <= {"f16", "f32"} else "+".join(sorted(kinds - {"f32"}))


def _check_base(base: Path, pairs: dict) -> None:
    """Refuse a ``--base-gguf`` that the adapter's pairs do not fit (llama.cpp would, less clearly)."""
    reader = gguf.GGUFReader(base)
    arch = reader.fields.get("general.architecture")
    arch = bytes(arch.parts[arch.data[0]]).decode() if arch is not None else None
    if arch != "llama":
        raise AfinarError(f"--base-gguf {base}: its architecture is {arch}; the adapter is for a llama model")
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}
    for name, (a, b) in sorted(pairs.items()):
        want = [a.shape[1], b.shape[0]]
        if shapes.get(name) != want:
            raise AfinarError(
                f"--base-gguf {base}: tensor {name} is {shapes.get(name, 'missing')}, the adapter needs {want} "
                "(inputs, outputs): not the base this run was trained on"
            )


def _adds_bos(gguf_file: Path) -> bool:
    """Whether llama.cpp puts the BOS token before a text prompt, as the GGUF's tokenizer says."""
    field = gguf.GGUFReader(gguf_file).fields.get("tokenizer.ggml.add_bos_token")
    return bool(field.parts[field.data[0]][0]) if field is not None else False


def _no_bos(text: str, bos: str | None) -> str:
    """``text`` without its leading ``bos`` (the BOS token llama.cpp adds itself, or None)."""
    return text[len(bos) :] if bos and text.startswith(bos) else text


def _verify_lora(model, tokenizer, recipe, check: Check, base_file: Path, adapter: Path, info: dict, n: int) -> None:
    """Greedy answers from llama.cpp with ``adapter`` on ``base_file``, from the prompts' ids and
    from their text, against the trained ``model``'s; near ties and the perplexity as a merged
    GGUF's check has them. Leaves the files' weights (base and adapter, as rounded there) in ``model``."""
    engine = LlamaCpp(base_file, adapter=adapter)
    eos = tokenizer.eos_token_id
    got = [engine.greedy(prompt, n, eos) for prompt in check.ids]
    bos = tokenizer.bos_token if _adds_bos(base_file) else None
    from_text = [engine.greedy(_no_bos(t, bos), n, eos) for t in check.texts]
    del engine
    v = info["verify"] = {"engine": "llama.cpp", **_compare(check.reference, got)}
    v["from_text_same"] = sum(a == b for a, b in zip(got, from_text, strict=True))
    exact = info["quant"] in EXACT
    divergences = _divergences(check.ids, check.reference, got, v["first_diff"], eos) if exact else []
    trained = _next_logits(model, [d[1] for d in divergences])

    def load() -> None:
        load_base_weights(model, read_weights(base_file, model, base_weights(model)))
        round_like_file(model, info["adapter_type"])

    ppl = _perplexity_change(model, load, tokenizer, check.rows, recipe.data.max_seq_len)
    info["perplexity"] = {**ppl, "split": check.split}
    if divergences:  # model now holds the base file's weights and adapter
        v["near_ties"] = near_ties(trained, _next_logits(model, [d[1] for d in divergences]), divergences)


def _export_lora(run_dir, model, tokenizer, recipe, check: Check, out: Path, quant: str, base_gguf, verify: bool,
                 max_new_tokens: int, actor) -> dict:  # fmt: skip
    """``--format gguf-lora``: the adapter file (and the base GGUF unless ``base_gguf``), verified
    in llama.cpp against ``check``; returns the export record."""
    pairs = lora_pairs(model, run_dir)
    adapter_out = out if out.suffix == ".gguf" else out / f"{recipe.name}-lora.gguf"
    base_out = Path(base_gguf) if base_gguf else adapter_out.parent / f"base-{quant}.gguf"
    if base_gguf is not None:
        _check_base(base_out, pairs)
    info: dict = {"run_dir": str(run_dir), "format": "gguf-lora", "base_quantization": recipe.memory.quantize,
                  "prompts": len(check.ids)}  # fmt: skip
    with ExitStack() as stack:  # both files appear verified or neither does
        tmp = stack.enter_context(atomic_path(adapter_out, mode=0o644))
        info["adapter_type"] = "f32" if quant == "f32" else "f16"
        write_lora_gguf(pairs, tmp, recipe.name, info["adapter_type"])
        base_file = base_out
        if base_gguf is None:
            base_file = stack.enter_context(atomic_path(base_out, mode=0o644))
            write_gguf(model, base_file, quant, tokenizer, f"{recipe.name} base", resolve_base(recipe.base_model).gguf,
                       weights=base_weights(model))  # fmt: skip
        info["quant"] = _matrix_types(base_file)
        if verify:
            _verify_lora(model, tokenizer, recipe, check, base_file, tmp, info, max_new_tokens)
            if info["verify"]["from_text_same"] != len(check.ids):
                why = "answers the prompt text unlike the same prompt as token ids (it tokenizes the text another way)"
                _refuse(run_dir, actor, info, f"{adapter_out}: llama.cpp {why}; nothing written")
        _check_verified(run_dir, actor, info, adapter_out, "gguf-lora", info["quant"], max_new_tokens)
        info["adapter"] = {"path": str(adapter_out), "sha256": sha256_file(tmp), "tensors": 2 * len(pairs)}
        info["base"] = {"path": str(base_out), "sha256": sha256_file(base_file), "written": base_gguf is None}
        info["files"] = {str(adapter_out): info["adapter"]["sha256"]}
        if base_gguf is None:
            info["files"][str(base_out)] = info["base"]["sha256"]
    return info


def _modelfile(gguf_file: Path, out: Path, tokenizer, system_prompt: str | None) -> tuple[str | None, dict]:
    """The Ollama Modelfile for the GGUF ``out`` (``gguf_file``: its bytes, not yet renamed into
    place) and its record, or ``None`` and why there is none (:mod:`afinar.export.modelfile`)."""
    text, label = modelfile(out.name, tokenizer, system_prompt, _adds_bos(gguf_file))
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

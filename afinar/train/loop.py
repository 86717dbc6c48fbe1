"""The training loop: one file, read top to bottom.

setup (seed, adapter, optimizer, schedule, resume)  ->  loop (accumulate, clip, step, log)
->  periodic eval loss + early stopping  ->  checkpoints  ->  the adapter with the best eval loss.

Loss normalisation: one optimizer step sums token cross-entropy over all micro-batches it
accumulates and divides by the total number of target tokens in them, so every target token
weighs the same whether it sits in a long or a short micro-batch (the mean of per-micro-batch
means would over-weight tokens of short batches).

Logits are computed only at target positions, a chunk at a time: the LM head (576 x 49152 for
SmolLM2) is the largest single matmul, and most positions of a chat row are prompt. With
``train.packing`` a step's rows are packed into rows of ``max_seq_len`` tokens (documents isolated,
:mod:`afinar.data.pack`): the same examples and target tokens, so the same gradient, with less
padding. See :mod:`afinar.train.speed` for the rest of what makes a step fast.

Under torchrun the same loop runs on every rank with the model sharded by FSDP2; each rank trains
its share of a step and the update is the one a single process makes with the same global batch
(:mod:`afinar.train.distributed` says how).
"""

from __future__ import annotations

import json
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from afinar.atomic import write_text
from afinar.config import Recipe
from afinar.data.batch import collate, epoch_order
from afinar.data.pack import collate_packed, pack
from afinar.data.render import IGNORE, LabeledRow, PairRow, Rendered
from afinar.errors import AfinarError
from afinar.model import adapters
from afinar.model.adapters import attach_adapter, causal_lm_of, decoder_states, trainable_parameters
from afinar.model.precision import autocast_for
from afinar.train import distributed
from afinar.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    read_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from afinar.train.fused import fused_layers
from afinar.train.interrupt import graceful_stop
from afinar.train.memory import OOM_ERRORS, OomLadder
from afinar.train.optim import build_optimizer
from afinar.train.preference import WITH_REFERENCE, PreferenceLoss, pair_batch, with_reference
from afinar.train.progress import TrainProgress
from afinar.train.replay import replay_kl_sum
from afinar.train.speed import (
    chunked_cross_entropy,
    compiled_layers,
    matmul_peak,
    peak_memory_gb,
    step_flops,
    store_frozen_in_bf16,
)

__all__ = ["TargetLoss", "TrainResult", "accumulate_step", "eval_loss", "target_loss_sum", "train"]


@dataclass
class TrainResult:
    steps: int
    total_steps: int
    epochs: float
    train_loss: float
    eval_loss: float | None
    best_eval_loss: float | None
    tokens: int
    seconds: float
    stopped_early: bool
    interrupted_at: int | None
    precision: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- the loss


def target_loss_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over target positions, and how many there are.

    ``batch`` tensors are (B, T); position t predicts the label at t + 1. A packed batch
    (:mod:`afinar.data.pack`) has ``position_ids`` and no ``attention_mask``.
    """
    causal_lm = causal_lm_of(model)
    hidden = decoder_states(
        model,
        batch["input_ids"],
        _unless_right_padded(batch.get("attention_mask")),
        batch.get("position_ids"),
        use_cache=False,  # with a cache, transformers would not read packed documents' boundaries
    )
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE  # (B, T-1)
    head = causal_lm.lm_head
    if type(head) is torch.nn.Linear and head.bias is None:
        return chunked_cross_entropy(hidden[:, :-1][keep], head.weight, targets[keep]), int(keep.sum())
    logits = head(hidden[:, :-1][keep])  # (N, vocab), N = target tokens
    return F.cross_entropy(logits.float(), targets[keep], reduction="sum"), int(keep.sum())


def _unless_right_padded(mask: torch.Tensor | None) -> torch.Tensor | None:
    """None for a right-padded batch's mask: under causal attention a real token never sees the
    padding after it, and padding has no target, so the loss and its gradients are the same
    without the mask, and attention runs causal-only instead of reading a [T x T] mask (on this
    CPU SDPA's forward took 11% less time that way, its backward about the same)."""
    if mask is None or not bool(mask[:, 0].all()) or not bool((mask[:, 1:] <= mask[:, :-1]).all()):
        return mask
    return None


class TargetLoss(torch.nn.Module):
    """``target_loss_sum`` as a module: the root that FSDP shards (its hooks gather the
    embeddings and LM head around each call), and the one path every step and eval takes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        return target_loss_sum(self.model, batch)


def _loss(model, batch):
    return model(batch) if isinstance(model, TargetLoss | PreferenceLoss) else target_loss_sum(model, batch)


def _n_targets(batch: dict[str, torch.Tensor]) -> int:
    """What the batch's loss is a sum over: target tokens, or examples for a preference batch."""
    if "examples" in batch:
        return int(batch["examples"])
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def accumulate_step(
    model,
    micro_batches: list[dict[str, torch.Tensor]],
    autocast=nullcontext,
    after_forward=None,
    total: int | None = None,
    scale: float = 1.0,
) -> tuple[float, int]:
    """Backpropagate one optimizer step's micro-batches; returns (mean token loss, target tokens).

    Each micro-batch's summed loss is divided by ``total``, the target count of the whole step
    (default: of these micro-batches; a rank of a distributed job passes the global count), and
    multiplied by ``scale`` (the world size, undoing FSDP's gradient averaging).
    ``after_forward`` runs while a micro-batch's activations are alive (the memory check).
    """
    total = total or sum(_n_targets(mb) for mb in micro_batches)
    loss_sum = 0.0
    for mb in micro_batches:
        with autocast():
            loss, _ = _loss(model, mb)
        if after_forward:
            after_forward()
        (loss * (scale / total)).backward()
        loss_sum += loss.item()
    return loss_sum / total, total  # a rank's share: the ranks' values sum to the step's mean


def _without_targets(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``batch`` with no target (a preference batch: no example): a rank's filler pass, so all
    ranks run as many passes."""
    if "examples" in batch:
        return {**batch, "examples": torch.zeros_like(batch["examples"])}
    return {**batch, "labels": torch.full_like(batch["labels"], IGNORE)}


@torch.no_grad()
def eval_loss(
    model, rows: list[Rendered], batch_size: int, pad_id: int, device, autocast=nullcontext, world=None
) -> float:
    """Mean token cross-entropy of ``rows`` (eval mode, no dropout), or for preference pairs the
    objective's mean loss per pair; a distributed ``world`` splits the batches over the ranks."""
    world = world or distributed.World()
    was_training = model.training
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].input_ids))
    batches = [_batch([rows[i] for i in order[s : s + batch_size]], pad_id) for s in range(0, len(order), batch_size)]
    mine = batches[world.rank :: world.size]
    mine += [_without_targets(batches[0])] * (math.ceil(len(batches) / world.size) - len(mine))
    loss, count = 0.0, 0
    for batch in mine:
        with autocast():
            s, n = _loss(model, {k: v.to(device) for k, v in batch.items()})
        loss, count = loss + s.item(), count + n
    loss, count = world.sum(loss, count)
    model.train(was_training)
    return loss / max(count, 1)


# ---------------------------------------------------------------- setup helpers


def _lr_lambda(recipe: Recipe, total_steps: int):
    o = recipe.optim

    def factor(step: int) -> float:
        if step < o.warmup_steps:
            return (step + 1) / (o.warmup_steps + 1)
        if o.schedule == "constant":
            return 1.0
        progress = (step - o.warmup_steps) / max(1, total_steps - o.warmup_steps)
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _grad_accum(accum: int, saved_world: int, world_size: int) -> int:
    """Micro-batches per rank and step that keep the global batch of a run saved on
    ``saved_world`` processes with ``accum`` (a run saved on 2 resumes on 1 with twice the accum)."""
    micro_batches = accum * saved_world
    if micro_batches % world_size:
        raise AfinarError(
            f"this run takes {micro_batches} micro-batches per step ({saved_world} processes x grad_accum {accum}),"
            f" which {world_size} processes cannot share evenly; resume on a world size that divides {micro_batches}"
        )
    return micro_batches // world_size


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Stream:
    """Endless micro-batches over epochs; position ``(epoch, index)`` is all resume needs."""

    def __init__(self, rows: list[Rendered], batch_size: int, seed: int, epoch=0, index=0, group: int = 16):
        self.rows, self.batch_size, self.seed, self.group = rows, batch_size, seed, group
        self.lengths = [len(r.input_ids) for r in rows]
        self.epoch, self.index = epoch, index
        self._order = epoch_order(self.lengths, batch_size, seed, epoch, group)

    @property
    def per_epoch(self) -> int:
        return len(self._order)

    def take(self) -> list[Rendered]:
        if self.index >= len(self._order):
            self.epoch, self.index = self.epoch + 1, 0
            self._order = epoch_order(self.lengths, self.batch_size, self.seed, self.epoch, self.group)
        batch = [self.rows[i] for i in self._order[self.index]]
        self.index += 1
        return batch

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.index / len(self._order)


def _batch(rows: list, pad_id: int) -> dict[str, torch.Tensor]:
    """Rows right-padded into one batch; preference pairs as :func:`pair_batch` lays them out."""
    return pair_batch(rows, pad_id) if isinstance(rows[0], PairRow | LabeledRow) else collate(rows, pad_id)


def step_batches(rows: list[Rendered], pad_id: int, packing: bool, capacity: int, per_forward: int):
    """The micro-batches of one optimizer step's rows, ``per_forward`` rows (or packed rows of
    ``capacity`` tokens, or pairs) each. However they are split, the step sees the same examples
    and the same target tokens, so the same gradient."""
    if packing:
        rows = [[rows[i] for i in b] for b in pack([len(r.input_ids) for r in rows], capacity)]
    chunks = [rows[j : j + per_forward] for j in range(0, len(rows), per_forward)]
    return [collate_packed(c, pad_id) if packing else _batch(c, pad_id) for c in chunks]


def rank_batches(shares: list[list[Rendered]], rank: int, batches) -> tuple[list[dict], int, int]:
    """This rank's micro-batches of a step whose rows are split in ``shares`` (one per rank),
    topped up with target-free copies to the largest rank's count; how many rows (packed rows
    when packing) all ranks forward; and the step's target tokens (the loss's denominator).
    ``batches(rows)`` is :func:`step_batches` with the step's settings."""
    every = [batches(share) if share else [] for share in shares]
    mine = every[rank]
    filler = _without_targets(next(b for bs in every for b in bs))
    n_rows = sum(len(b["input_ids"]) for bs in every for b in bs)
    n_targets = sum(_n_targets(b) for bs in every for b in bs)
    return mine + [filler] * (max(map(len, every)) - len(mine)), n_rows, n_targets


def _cut(rows: list[Rendered], max_len: int) -> list[Rendered]:
    """Rows truncated to ``max_len`` (the OOM ladder's last rung); rows left without a target go."""
    return [c for c in (r.truncated(max_len) for r in rows) if c.n_targets]


def _context(rows: list[Rendered]) -> float:
    """Mean number of tokens each token attends to (its document's earlier tokens and itself)."""
    n = [len(r.input_ids) for r in rows]
    return sum(k * (k + 1) / 2 for k in n) / max(sum(n), 1)


def _clip(params: dict[str, torch.Tensor], max_norm: float | None) -> float | None:
    """Clip the gradients' global norm (over all ranks' shards); returns the norm before."""
    if not max_norm:
        return None
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
    return (norm.full_tensor() if hasattr(norm, "full_tensor") else norm).item()


def _replay_step(model, rows: list, cfg, pad_id: int, autocast) -> float:
    """Backpropagate the replay term of one step (:mod:`afinar.train.replay`), a mean per replay
    token times ``cfg.weight``; returns that mean."""
    with autocast():
        if cfg.loss == "kl+sft":  # each a mean per its own tokens, summed
            kl_sum, n, ce_sum, n_ce = replay_kl_sum(model, rows, pad_id, with_sft=True)
            loss = kl_sum / max(n, 1) + ce_sum / max(n_ce, 1)
        else:
            if cfg.loss == "kl":
                loss_sum, n = replay_kl_sum(model, rows, pad_id)
            else:  # plain replay: the rows' own labels, like a domain micro-batch
                loss_sum, n = target_loss_sum(model, collate(rows, pad_id))
            loss = loss_sum / max(n, 1)
    (loss * cfg.weight).backward()
    return loss.item()


def _check_objective(objective: str, rows: list) -> None:
    """Each objective trains on its own kind of row (conversations, pairs, labeled answers)."""
    kinds = {"sft": (Rendered, "conversations"), "kto": (LabeledRow, "labeled answers (prompt/completion/label)")}
    kind, name = kinds.get(objective, (PairRow, "preference pairs (prompt/chosen/rejected)"))
    wrong = next((r for r in rows if not isinstance(r, kind)), None)
    if wrong is not None:
        raise AfinarError(
            f"{wrong.source}: train.objective {objective} trains on {name}, and this row is not one; set "
            "train.objective to match the data (sft: conversations; dpo, ipo, orpo: pairs; kto: labeled answers)"
        )


def _append_metrics(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines past ``step`` (written after the checkpoint a run resumes from)."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        write_text(path, "".join(line + "\n" for line in keep))


# ---------------------------------------------------------------- the loop


def train(
    model,
    tokenizer,
    train_rows: list[Rendered],
    eval_rows: list[Rendered],
    recipe: Recipe,
    run_dir: Path,
    *,
    resume: bool = False,
    stop_at_step: int | None = None,
    show_progress: bool = True,
    on_event=None,
    replay: list | None = None,
):
    """Fine-tune ``model`` with a fresh adapter; write metrics, checkpoints and ``adapter/``.

    Args:
        resume: continue from the newest checkpoint in ``run_dir`` (exactly, as if never stopped).
        stop_at_step: save a checkpoint after this optimizer step and return, as a preemption would.
            Ctrl-C or SIGTERM does the same after the step in progress.
        on_event: called as ``on_event(action, details)`` for what the audit log must hold
            (each rung of the OOM ladder).
        replay: rows of :mod:`afinar.train.replay` (``recipe.replay``): each step adds
            ``replay.per_step`` of them with their own loss, weighted by ``replay.weight``.

    Returns:
        ``(peft_model, TrainResult)``; the model holds the best adapter weights (by eval loss),
        except in a distributed run, whose sharded model keeps its last weights (the best are
        in ``adapter/``).
    """
    t = recipe.train
    world = distributed.world()
    device = world.device
    precision, autocast = autocast_for(t.precision, device)
    pad_id = tokenizer.pad_token_id

    if world.active and recipe.memory.quantize != "none":
        raise AfinarError(
            f"memory.quantize: {recipe.memory.quantize} is not supported with --nproc yet (FSDP2 cannot shard"
            " bitsandbytes weights); train it on one process, or shard a bf16 base instead"
        )

    # --- setup: seed, adapter (sharded over the ranks), optimizer, schedule
    _seed_everything(t.seed)
    if t.compile and world.active:
        raise AfinarError(f"train.compile works on one process; set it to false for {world.size} processes")
    if replay and world.active:
        raise AfinarError(f"replay works on one process; set replay.enabled to false for {world.size} processes")
    _check_objective(t.objective, train_rows)
    if t.objective in WITH_REFERENCE:  # the model before the adapter is the reference
        with_reference(model.to(device), [*train_rows, *eval_rows], pad_id, autocast)
    model = attach_adapter(model, recipe.adapter).to(device)
    preference = t.objective != "sft"
    step_loss = (
        PreferenceLoss(model, t.objective, t.beta, t.kto_weights, t.rpo_alpha) if preference else TargetLoss(model)
    )
    if world.active:
        distributed.shard(step_loss, causal_lm_of(model).model.layers, bf16=precision == "bf16")
    elif precision == "bf16":
        store_frozen_in_bf16(model)
    params = trainable_parameters(model)
    config = causal_lm_of(model).config
    peak = matmul_peak(device=device) * world.size
    optimizer = build_optimizer(params, recipe.optim, config.num_hidden_layers)
    # Packing draws micro-batches without length grouping: short and long rows then share bins.
    group = 1 if t.packing else 16
    stream = _Stream(train_rows, t.micro_batch_size, t.seed, group=group)
    replay_stream = _Stream(replay, recipe.replay.per_step, recipe.replay.seed, group=1) if replay else None
    ckpt_path = latest_checkpoint(run_dir) if resume else None
    if resume and ckpt_path is None:
        raise AfinarError(f"{run_dir}: no checkpoint to resume from (set train.checkpoint_interval)")
    saved_world = read_state(ckpt_path).get("world_size", 1) if ckpt_path else world.size
    accum = _grad_accum(t.grad_accum, saved_world, world.size)
    total_steps = t.max_steps or max(1, math.ceil(t.epochs * stream.per_epoch / (accum * world.size)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(recipe, total_steps))
    state = {"step": 0, "best_eval": None, "bad_evals": 0, "tokens": 0, "seconds": 0.0, "last_loss": float("nan")}
    metrics_path = run_dir / "metrics.jsonl"

    def log(record: dict) -> None:
        if world.main:
            _append_metrics(metrics_path, record)

    if resume:
        ckpt = load_checkpoint(ckpt_path, step_loss, optimizer, world)
        scheduler.load_state_dict(ckpt["scheduler"])
        state = ckpt["state"]
        stream = _Stream(train_rows, t.micro_batch_size, t.seed, ckpt["epoch"], ckpt["index"], group)
        if replay_stream:
            at = ckpt["replay"]
            replay_stream = _Stream(replay, recipe.replay.per_step, recipe.replay.seed, at["epoch"], at["index"], 1)
        set_rng_state(ckpt["rng"])
        if world.main:
            _truncate_metrics(metrics_path, state["step"])
    elif world.main and metrics_path.exists():
        metrics_path.unlink()

    ladder = OomLadder(state, t.micro_batch_size, recipe.data.max_seq_len, recipe.memory, model)

    def checkpoint() -> None:
        position = {"epoch": stream.epoch, "index": stream.index}
        if replay_stream:
            position["replay"] = {"epoch": replay_stream.epoch, "index": replay_stream.index}
        extra = {"scheduler": scheduler.state_dict(), "state": dict(state), "world_size": world.size, **position}
        save_checkpoint(run_dir, state["step"], step_loss, optimizer, extra, world)

    def save_adapter() -> None:
        weights = distributed.full_tensors(params)  # every rank takes part in the gather
        if world.main:
            adapters.save_adapter(model, run_dir / "adapter", weights)

    def evaluate() -> float | None:
        if not eval_rows:
            return None
        loss = eval_loss(step_loss, eval_rows, t.micro_batch_size * 2, pad_id, device, autocast, world)
        rewards = {f"eval_{k}": v for k, v in step_loss.take_stats(world).items()} if preference else {}
        log({"step": state["step"], "eval_loss": loss} | rewards)
        if state["best_eval"] is None or loss < state["best_eval"]:
            state["best_eval"], state["bad_evals"] = loss, 0
            save_adapter()
        else:
            state["bad_evals"] += 1
        return loss

    # --- the loop (its decoder layers lean, or compiled when the recipe asks, while it runs)
    model.train()
    stopped_early, interrupted_at = False, None
    progress_on = show_progress and world.main
    layers = causal_lm_of(model).model.layers
    with (
        TrainProgress(total_steps, state["step"], enabled=progress_on) as progress,
        graceful_stop() as stop,
        compiled_layers(layers, t.compile),  # refused above under --nproc
        fused_layers(layers, enabled=not t.compile),  # inductor fuses the compiled ones itself
    ):
        while state["step"] < total_steps:
            start = time.perf_counter()
            # The global step: accum micro-batches per rank; this rank trains its share.
            shares = [[r for _ in range(accum) for r in stream.take()] for _ in range(world.size)]
            general = replay_stream.take() if replay_stream else []
            rng = rng_state()
            while True:  # the OOM ladder: the same step again, one rung down, until it fits
                try:
                    ladder.before_step(state["step"] + 1)
                    distributed.fault_check(world, state["step"] + 1)
                    if ladder.seq < recipe.data.max_seq_len:
                        shares = [_cut(rows, ladder.seq) for rows in shares]
                    rows = [r for share in shares for r in share]
                    micro, n_rows, n_targets = rank_batches(
                        shares, world.rank, lambda rs: step_batches(rs, pad_id, t.packing, ladder.seq, ladder.rows)
                    )
                    micro = [{k: v.to(device) for k, v in mb.items()} for mb in micro]
                    if preference:
                        step_loss.take_stats()  # what an attempt the OOM ladder undid saw is not this step's
                    loss, _ = accumulate_step(
                        step_loss, micro, autocast, ladder.after_forward, total=n_targets, scale=world.size
                    )
                    replay_loss = _replay_step(model, general, recipe.replay, pad_id, autocast) if general else None
                    break
                except OOM_ERRORS as err:
                    optimizer.zero_grad(set_to_none=True)
                    set_rng_state(rng)
                    event = ladder.climb(state["step"] + 1, err)
                    log(event)
                    if on_event and world.main:
                        on_event("train.oom", event)
            (loss,) = world.sum(loss)
            grad_norm = _clip(params, recipe.optim.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            rewards = step_loss.take_stats(world) if preference else {}
            tokens = sum(len(r.input_ids) for r in rows)
            elapsed = time.perf_counter() - start
            mfu = step_flops(config, tokens, sum(r.n_targets for r in rows), _context(rows)) / elapsed / peak
            state["step"] += 1
            state["tokens"] += tokens
            state["seconds"] += elapsed
            state["last_loss"] = loss
            log(
                {
                    "step": state["step"],
                    "epoch": round(stream.epochs_done, 4),
                    "loss": loss,
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": grad_norm,
                    "target_tokens": n_targets,
                    "tokens": tokens,
                    "tokens_per_s": tokens / elapsed,
                    "examples": len(rows),
                    "rows": n_rows,
                    "mfu": mfu,
                    "peak_mem_gb": round(peak_memory_gb(device), 3),
                }
                | ({"replay_loss": replay_loss} if general else {})
                | rewards,
            )
            progress.update(state["step"], loss, state["tokens"] / state["seconds"], mfu, rewards)

            if t.eval_interval and state["step"] % t.eval_interval == 0 and state["step"] < total_steps:
                progress.note_eval(evaluate())
                if t.early_stopping_patience and state["bad_evals"] >= t.early_stopping_patience:
                    stopped_early = True
                    break
            if t.checkpoint_interval and state["step"] % t.checkpoint_interval == 0:
                checkpoint()
            if world.any(stop()) or (stop_at_step is not None and state["step"] >= stop_at_step):
                checkpoint()
                interrupted_at = state["step"]
                break

    # --- the end: last eval, best adapter back into the model
    final_eval = None
    if interrupted_at is None:
        final_eval = evaluate() if not stopped_early else None
        best = run_dir / "adapter"
        if not eval_rows:
            save_adapter()
        elif not world.active:  # a sharded model keeps its last weights; the best are on disk
            adapters.load_weights(model, best)
    model.eval()
    result = TrainResult(
        steps=state["step"],
        total_steps=total_steps,
        epochs=round(stream.epochs_done, 3),
        train_loss=state["last_loss"],
        eval_loss=final_eval,
        best_eval_loss=state["best_eval"],
        tokens=state["tokens"],
        seconds=state["seconds"],
        stopped_early=stopped_early,
        interrupted_at=interrupted_at,
        precision=precision,
    )
    return model, result

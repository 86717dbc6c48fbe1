"""The model workers behind the server. Requests queue to a worker that owns the model, so the
event loop never waits on a forward pass; what comes back is a stream of :class:`Event`.

- :class:`TorchEngine`: the base model loaded once with any number of PEFT adapters on it. Up to
  ``max_batch`` queued requests run as one left-padded batch with a shared KV cache; each row
  names its adapter (PEFT's mixed-adapter forward), its sampling settings and its seed.
- :class:`LlamaCppEngine`: an exported GGUF in llama.cpp (the ``xllamacpp`` wheel), which
  schedules its own parallel slots.

Both take prompts as token ids, so the server applies one chat template (the tokenizer's) and
counts tokens the same way for either.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from afinar.model.adapters import causal_lm_of, virtual_tokens

__all__ = ["BASE", "Event", "Job", "LlamaCppEngine", "Sampling", "TorchEngine"]

BASE = "__base__"
"""PEFT's name for "no adapter" in a mixed-adapter batch."""


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    """0 means greedy."""
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Event:
    text: str
    """New text since the last event (may be empty while a multi-byte character is incomplete)."""
    finish: str | None = None
    """``stop`` (end-of-turn token), ``length`` (max_tokens), ``cancelled``, or ``error`` on the last event."""
    tokens: int = 0
    """Completion tokens so far."""
    error: str | None = None


@dataclass
class Job:
    prompt_ids: list[int]
    adapter: str
    """An adapter name, or :data:`BASE`."""
    sampling: Sampling
    emit: Callable[[Event], None]
    """Called from the worker thread; must be thread-safe and quick."""
    cancelled: threading.Event = field(default_factory=threading.Event)


def _pick(logits: torch.Tensor, s: Sampling, gen: torch.Generator | None) -> int:
    """Next token from one row of logits (vocab,): argmax, or temperature + nucleus sampling."""
    if s.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / s.temperature, dim=-1)
    if s.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < s.top_p  # the smallest prefix whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


class _Detokenizer:
    """Turns a growing list of ids into text deltas, holding back an incomplete UTF-8 character."""

    def __init__(self, tokenizer):
        self.tokenizer, self.ids, self.text = tokenizer, [], ""

    def add(self, token: int) -> str:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""
        delta, self.text = text[len(self.text) :], text
        return delta


class TorchEngine:
    """One worker thread running batched generation on a (PEFT) model.

    Args:
        model: a causal LM, or a ``PeftModel`` holding every adapter by name.
        tokenizer: its tokenizer (for decoding and the end-of-turn ids).
        max_batch: the most requests decoded together.
        batch_window_s: how long the worker waits for more requests before starting a batch.
    """

    def __init__(self, model, tokenizer, max_batch: int = 8, batch_window_s: float = 0.01):
        self.model, self.tokenizer = model, tokenizer
        self.max_batch, self.window = max_batch, batch_window_s
        self.peft = hasattr(model, "peft_config")
        self.adapters = sorted(model.peft_config) if self.peft else []
        self.context = int(getattr(model.config, "max_position_embeddings", 2048))
        eos = model.generation_config.eos_token_id if model.generation_config else None
        self.stop_ids = {tokenizer.eos_token_id} | set(eos if isinstance(eos, list) else [eos] if eos else [])
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = next(model.parameters()).device
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self.batches: deque[int] = deque(maxlen=10_000)
        """Sizes of the latest batches (the tests read them to see batching happen)."""
        self._thread = threading.Thread(target=self._work, name="afinar-model", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._queue.put(job)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            batch = [job]
            deadline = time.monotonic() + self.window
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(nxt)
            batch = [j for j in batch if not j.cancelled.is_set()]
            if not batch:
                continue
            self.batches.append(len(batch))
            try:
                self._run(batch)
            except Exception as err:  # the server turns this into a 500 for these requests only
                for j in batch:
                    j.emit(Event("", "error", error=f"{type(err).__name__}: {err}"))

    def _forward(self, ids, mask, positions, cache, adapters, embeds=None):
        extra, model = {}, self.model
        if self.peft and len(set(adapters)) > 1:
            extra["adapter_names"] = adapters  # PEFT's mixed-adapter forward: each row its own LoRA
        if virtual_tokens(self.model)[0]:  # prefix/prompt tuning: the virtual tokens are in the cache
            model = causal_lm_of(self.model)
        out = model(
            input_ids=None if embeds is not None else ids,
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
            **extra,
        )
        return out.logits[:, -1]

    def _virtual(self, ids, mask, positions, cache):
        """For a prefix- or prompt-tuned adapter: the cache, mask, positions and first-step
        embeddings with its learned tokens placed before the prompts (none for other models)."""
        n, kind = virtual_tokens(self.model)
        if not n:
            return cache, mask, positions, None
        b = len(ids)
        mask = torch.cat([torch.ones((b, n), dtype=mask.dtype, device=mask.device), mask], dim=1)
        if kind == "prefix":  # learned keys/values: the cache starts with them
            return self.model.get_prompt(b, max_cache_len=mask.shape[1]), mask, positions + n, None
        embeds = causal_lm_of(self.model).model.embed_tokens(ids)
        embeds = torch.cat([self.model.get_prompt(batch_size=b).to(embeds.dtype), embeds], dim=1)
        first = torch.arange(n, device=positions.device).expand(b, n)
        return cache, mask, torch.cat([first, positions + n], dim=1), embeds

    def _one_adapter(self, adapters: list[str]):
        """For a batch on a single adapter (or none), the faster plain forward with it active:
        PEFT's per-row routing costs ~25% more per token (measured on SmolLM2, batch 1)."""
        if not self.peft or len(set(adapters)) > 1:
            return nullcontext()
        if adapters[0] == BASE:
            return self.model.disable_adapter()
        self.model.set_adapter(adapters[0])
        return nullcontext()

    @torch.inference_mode()
    def _run(self, batch: list[Job]) -> None:
        from transformers import DynamicCache

        width = max(len(j.prompt_ids) for j in batch)
        ids = torch.full((len(batch), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, j in enumerate(batch):
            ids[r, width - len(j.prompt_ids) :] = torch.tensor(j.prompt_ids)
            mask[r, width - len(j.prompt_ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        adapters = [j.adapter for j in batch]
        cache = DynamicCache()
        ids, mask, positions = ids.to(self.device), mask.to(self.device), positions.to(self.device)
        with self._one_adapter(adapters):
            cache, mask, positions, embeds = self._virtual(ids, mask, positions, cache)
            self._decode(batch, ids, mask, positions, cache, adapters, embeds)

    def _decode(self, batch: list[Job], ids, mask, positions, cache, adapters, embeds=None) -> None:
        gens = [torch.Generator().manual_seed(j.sampling.seed) if j.sampling.seed is not None else None for j in batch]
        texts = [_Detokenizer(self.tokenizer) for _ in batch]
        live = [True] * len(batch)
        logits = self._forward(ids, mask, positions, cache, adapters, embeds)
        for _ in range(max(j.sampling.max_tokens for j in batch)):
            step = torch.full((len(batch), 1), self.pad, dtype=torch.long)
            for r, j in enumerate(batch):
                if not live[r]:
                    continue
                token = _pick(logits[r], j.sampling, gens[r])
                n = len(texts[r].ids)
                if j.cancelled.is_set():
                    live[r] = False
                    j.emit(Event("", "cancelled", n))
                elif token in self.stop_ids:
                    live[r] = False
                    j.emit(Event("", "stop", n))
                else:
                    delta = texts[r].add(token)
                    step[r, 0] = token
                    done = n + 1 >= j.sampling.max_tokens
                    live[r] = not done
                    j.emit(Event(delta, "length" if done else None, n + 1))
            if not any(live):
                return
            mask = torch.cat([mask, torch.ones((len(batch), 1), dtype=mask.dtype, device=self.device)], dim=1)
            positions = positions[:, -1:] + 1
            logits = self._forward(step.to(self.device), mask, positions, cache, adapters)


class LlamaCppEngine:
    """An exported GGUF served by llama.cpp, ``parallel`` requests at a time.

    llama.cpp gets as many threads as this process may use: oversubscribed, it stalls.
    """

    def __init__(self, gguf: Path, context: int = 4096, parallel: int = 4):
        from afinar.errors import AfinarError
        from afinar.model.llamacpp import llamacpp_server

        if not Path(gguf).is_file():
            raise AfinarError(f"{gguf}: GGUF file not found")
        # llama.cpp splits n_ctx across its slots
        self.server = llamacpp_server(gguf, context * parallel, parallel, why="--gguf needs llama.cpp")
        self.context = context
        self.adapters: list[str] = []
        self.batches: deque[int] = deque(maxlen=10_000)
        self._pool = ThreadPoolExecutor(parallel, thread_name_prefix="afinar-llamacpp")

    def submit(self, job: Job) -> None:
        self._pool.submit(self._run, job)

    def alive(self) -> bool:
        return True  # llama.cpp runs inside this process; if it died, so did we

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job) -> None:
        s = job.sampling
        request = {
            "prompt": job.prompt_ids,
            "n_predict": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "stream": True,
            "cache_prompt": False,
        }
        if s.temperature <= 0:
            request["top_k"] = 1
        if s.seed is not None:
            request["seed"] = s.seed
        count = 0

        def chunk(data: dict) -> None:
            nonlocal count
            if "error" in data or not data.get("choices"):
                job.emit(Event("", "error", count, error=str(data.get("error", data))))
                return
            choice = data["choices"][0]
            count += 1 if choice.get("text") else 0
            finish = choice.get("finish_reason")
            if finish:
                count = (data.get("usage") or {}).get("completion_tokens", count)
            job.emit(Event(choice.get("text") or "", finish, count))

        try:
            self.server.handle_completions(request, chunk)
        except Exception as err:
            job.emit(Event("", "error", count, error=f"{type(err).__name__}: {err}"))

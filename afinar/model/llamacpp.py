"""Run a GGUF file in llama.cpp itself (the prebuilt ``xllamacpp`` wheel embeds it).

Prompts go in as token ids, so the comparison with PyTorch tests the model, not two tokenizers;
decoding is greedy (top-k 1) and the generated ids are what llama.cpp's own ``/completion``
endpoint returns with ``return_tokens``, on the loopback address the in-process server listens
on. (The per-token log-probs of the OpenAI-style handler leave out a token that ends inside a
UTF-8 character: a Llama 3 model writing Chinese or an emoji would look different from PyTorch
when it is not.) llama.cpp gets as many threads as this process may use: oversubscribed, it
stalls.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from afinar.errors import AfinarError
from afinar.model.constrain import llamacpp_grammar

__all__ = ["LlamaCpp", "llamacpp_server", "lora_request"]


def llamacpp_server(
    gguf: Path, n_ctx: int, parallel: int = 1, why: str = "this needs llama.cpp", adapters: list[Path] = ()
):  # fmt: skip
    """An in-process llama.cpp server on ``gguf`` with ``parallel`` slots sharing ``n_ctx``
    tokens, given as many threads as this process may use. ``adapters`` (GGUF LoRA files) are
    loaded but applied only where a request asks for them (:func:`lora_request`)."""
    try:
        import xllamacpp  # llama.cpp's library loads only when a GGUF runs
    except ImportError:
        raise AfinarError(f"{why}: pip install xllamacpp==2026.10.11549") from None
    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = n_ctx
    params.n_parallel = parallel
    threads = len(os.sched_getaffinity(0))
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False
    params.verbosity = -1
    loras = []
    for path in adapters:
        lora = xllamacpp.CommonAdapterLoraInfo()
        lora.path, lora.scale = str(path), 0.0
        loras.append(lora)
    params.lora_adapters = loras
    params.lora_init_without_apply = True
    return xllamacpp.Server(params)


def lora_request(loaded: int, use: int | None) -> list[dict]:
    """llama.cpp's per-request ``lora`` field: of the ``loaded`` adapters, ``use`` (an index) at
    scale 1 and the others off (every one listed: llama.cpp versions differ on what an unlisted
    adapter gets). Requests whose lists are equal are batched together."""
    return [{"id": i, "scale": 1.0 if i == use else 0.0} for i in range(loaded)]


_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Requests to the in-process server, never through a proxy."""


class LlamaCpp:
    def __init__(self, gguf: Path, n_ctx: int = 2048, adapter: Path | None = None):
        """``gguf`` in llama.cpp, with the GGUF LoRA ``adapter`` applied to every request."""
        self.adapters = [adapter] if adapter is not None else []
        self.server = llamacpp_server(
            gguf, n_ctx, why="verifying a GGUF needs llama.cpp (or pass --no-verify)", adapters=self.adapters
        )

    def post(self, path: str, body: dict) -> dict:
        """``body`` to llama.cpp's own HTTP endpoint ``path`` (``/completion``, ``/tokenize``) on
        the loopback address the in-process server listens on."""
        request = urllib.request.Request(
            self.server.listening_address + path, data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with _LOOPBACK.open(request, timeout=600) as response:
            return json.loads(response.read())

    def greedy(
        self,
        prompt: list[int] | str,
        max_new_tokens: int,
        eos_id: int | None = None,
        json_schema: dict | None = None,
    ) -> list[int]:
        """Generated token ids after ``prompt`` (token ids, or text llama.cpp tokenizes itself),
        cut before ``eos_id`` (llama.cpp reports the end-of-generation token it stopped on;
        PyTorch-side answers are cut before it). With ``json_schema``, decoded under the grammar
        PyTorch decoding uses (:func:`afinar.model.constrain.llamacpp_grammar`)."""
        request = {
            "prompt": prompt,
            "n_predict": max_new_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "cache_prompt": False,
            "return_tokens": True,
            "lora": lora_request(len(self.adapters), 0 if self.adapters else None),
        }
        if json_schema is not None:
            request["grammar"] = llamacpp_grammar(json_schema)
        try:
            result = self.post("/completion", request)
        except OSError as err:  # an HTTP error status included
            raise AfinarError(f"llama.cpp refused the request: {err}") from None
        ids = list(result.get("tokens") or [])
        return ids[: ids.index(eos_id)] if eos_id in ids else ids

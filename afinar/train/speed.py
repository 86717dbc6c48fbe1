"""What makes a training step fast, and how fast it is.

- :func:`chunked_cross_entropy`: the LM head and cross-entropy over target positions, a chunk
  of rows at a time. The gradient with respect to the hidden states is computed in the forward
  pass, chunk by chunk, so neither the [targets x vocab] logits nor their softmax are ever kept
  for backward (SmolLM2's head is 49,152 wide; 2,048 targets would hold 400 MB in fp32).
- :func:`store_frozen_in_bf16`: frozen Linear weights kept in bf16. Under bf16 autocast every
  matmul casts its fp32 weight to bf16 anyway, on every call, because autocast caches casts only
  for weights that require grad; storing them in bf16 does that once. Same numbers, less time and
  half the memory. Embeddings, norms and the (tied) LM head stay fp32 so the residual stream
  does too; trainable weights and optimizer state stay fp32.
- :func:`step_flops` and :func:`matmul_peak`: model FLOPs utilisation (MFU);
  :func:`peak_memory_gb`: the memory high-water mark.
"""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from afinar.model.load import own_memory

__all__ = [
    "chunked_cross_entropy",
    "compiled_layers",
    "matmul_peak",
    "peak_memory_gb",
    "step_flops",
    "store_frozen_in_bf16",
]


class _ChunkedCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk):
        total = hidden.new_zeros((), dtype=torch.float32)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if weight.requires_grad else None
        w = weight.to(hidden.dtype)
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk]
            t = targets[start : start + chunk]
            logits = (h @ w.T).float()
            picked = logits.gather(1, t[:, None]).squeeze(1)
            top = logits.amax(dim=-1, keepdim=True)
            probs = logits.sub_(top).exp_()  # softmax in place, one exp pass: one [chunk x vocab] fp32 block
            sums = probs.sum(dim=-1, keepdim=True)
            total += (top + sums.log()).squeeze(1).sub_(picked).sum()  # logsumexp - picked logit
            probs.div_(sums)
            probs[torch.arange(len(t)), t] -= 1.0  # d(sum CE)/d logits = softmax - one-hot
            g = probs.to(h.dtype)
            del logits, probs
            grad_hidden[start : start + chunk] = g @ w
            if grad_weight is not None:
                grad_weight += (g.T @ h).float()
        ctx.save_for_backward(grad_hidden, grad_weight)
        return total

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        grad_w = grad_weight * grad_output if grad_weight is not None else None
        return grad_hidden * grad_output.to(grad_hidden.dtype), grad_w, None, None


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int = 1024):
    """Summed cross-entropy of ``hidden @ weight.T`` (N x vocab) against ``targets`` (N,),
    computed ``chunk`` rows at a time; differentiable in ``hidden`` (and ``weight`` if it
    requires grad)."""
    if not torch.is_grad_enabled() or not (hidden.requires_grad or weight.requires_grad):
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, hidden.shape[0], chunk):
            logits = (hidden[start : start + chunk] @ weight.to(hidden.dtype).T).float()
            total += F.cross_entropy(logits, targets[start : start + chunk], reduction="sum")
        return total
    return _ChunkedCE.apply(hidden, weight, targets, chunk)


def _bf16_input(module, args):
    """bitsandbytes layers do not follow autocast: given the fp32 residual stream, nf4 returns
    fp32 and int8 computes and saves for backward in fp32 (double the activation memory of a
    bf16 base). Under autocast they get bf16 input, as a bf16 Linear would."""
    x = args[0]
    if x.dtype == torch.float32 and torch.is_autocast_enabled(x.device.type):
        return (x.to(torch.bfloat16), *args[1:])
    return None


def _drop_unused_input(module, args, output):
    """bitsandbytes' CPU int8 matmul (MatMul8bitFp) keeps its input on the autograd node for the
    weight's gradient, as a plain attribute, so it lives until the whole backward pass ends: 0.4
    GiB more than a bf16 base at 4 x 384 tokens on the bundled model. A frozen weight has no
    gradient; the input is dropped."""
    node = output.grad_fn
    if node is not None and type(node).__name__ == "MatMul8bitFpBackward" and not module.weight.requires_grad:
        node.A = None


def store_frozen_in_bf16(model) -> int:
    """Cast every frozen ``nn.Linear`` weight (except the LM head) to bf16, and make quantized
    (bitsandbytes) layers take bf16 input under autocast; returns how many layers."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    count = 0
    for module in model.modules():
        if not isinstance(module, torch.nn.Linear) or module is head:
            continue
        if type(module).__module__.startswith("bitsandbytes"):
            module.register_forward_pre_hook(_bf16_input)
            module.register_forward_hook(_drop_unused_input)
            count += 1
        elif not module.weight.requires_grad and module.weight.dtype == torch.float32:
            module.weight.data = module.weight.data.to(torch.bfloat16)
            if module.bias is not None and not module.bias.requires_grad:
                module.bias.data = module.bias.data.to(torch.bfloat16)
            count += 1
    own_memory(model)  # what stays fp32 (embeddings, norms) lets go of the file's pages
    return count


@contextmanager
def compiled_layers(layers, enabled: bool = True):
    """Within the block, each of ``layers`` runs a ``torch.compile``d forward (inductor; dynamic
    shapes, so batches of other lengths do not recompile); after it, their own forward again.

    What it buys on this CPU (bundled model, LoRA r=16 on all projections, bf16, 8 rows of
    200-264 tokens): fused norms, rotary and activation kernels, 13% less time per step once
    compiled; the first step pays the compile (~30 s). Gradients equal the eager ones within
    bf16 rounding (tests/train/test_speed.py).
    """
    if not enabled:
        yield
        return
    for layer in layers:
        layer.forward = torch.compile(layer.forward, dynamic=True)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward  # the instance attribute goes; the class's forward is back


def step_flops(config, tokens: int, targets: int, context: float) -> float:
    """Model FLOPs of a training step, the MFU convention (PaLM, appendix B): per token, 6 x the
    matmul parameters of the decoder layers plus attention scores, 12 x layers x hidden x the
    attended ``context`` (the mean number of earlier tokens in the same document); per target,
    6 x the LM head (afinar computes it only there; a tool that computes it everywhere does
    more work, not more useful work).

    A frozen base computes no weight gradients, so LoRA's real work is nearer 4x than 6x per
    parameter; MFU keeps the 6x convention so that numbers compare across tools and papers.
    """
    d, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    attn = 2 * d * heads * head_dim + 2 * d * kv_heads * head_dim  # q, o; k, v
    mlp = 3 * d * config.intermediate_size
    per_token = 6 * layers * (attn + mlp) + 12 * layers * heads * head_dim * context
    return tokens * per_token + targets * 6 * d * config.vocab_size


_PEAKS: dict[str, float] = {}


def matmul_peak(seconds: float = 0.3, size: int = 2048, device: torch.device | None = None) -> float:
    """bf16 matmul FLOP/s measured here (once per process and device): the best of repeated
    ``size``^3 products."""
    device = device or torch.device("cpu")
    if str(device) in _PEAKS:
        return _PEAKS[str(device)]
    # A generator of its own: measuring must not move the training's random stream.
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, dtype=torch.bfloat16, device=device, generator=gen)
    b = torch.randn(size, size, dtype=torch.bfloat16, device=device, generator=gen)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b  # warm-up: thread pool and kernels
    sync()
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    _PEAKS[str(device)] = 2 * size**3 / best
    return _PEAKS[str(device)]


def peak_memory_gb(device: torch.device) -> float:
    """Peak memory so far: CUDA's allocator high-water mark, or this process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux

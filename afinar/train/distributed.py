"""Distributed training: the same loop on N processes, through torchrun and FSDP2.

Launch with ``afinar train RECIPE --nproc N`` (which runs torchrun for you), or directly with
``torchrun --nproc-per-node N -m afinar.train RECIPE``; several nodes add ``--nnodes``,
``--node-rank`` and ``--rdzv-endpoint`` (docs/distributed.md).

What N processes compute, and why it is the update one process computes:

- A step's global batch is ``micro_batch_size x grad_accum x N`` examples. Every rank draws the
  same step from the same seeded stream and keeps its own contiguous share (``grad_accum``
  micro-batches), so no example is trained twice and none is skipped.
- Each rank sums token cross-entropy over its share and divides by the step's **global** number
  of target tokens; FSDP's gradient reduction then sums the ranks (we scale by N because it
  averages), which is exactly the single-process gradient of the same global batch.
- FSDP2 (``fully_shard``) shards every decoder layer and the root (embeddings, norm, LM head);
  with bf16 the parameters are gathered in bf16 and gradients reduced in fp32.
- Every rank runs the same number of forward/backward passes (FSDP's collectives need it): a rank
  with fewer micro-batches runs a copy with no targets, which adds nothing to the gradient.

Only rank 0 prints, writes metrics, checkpoints' small state and audit records. One rank's
exception ends the whole job: torchrun stops the others and exits non-zero (no hang).
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor

from afinar.errors import AfinarError

__all__ = ["World", "fault_check", "full_tensors", "launch", "leave", "shard", "spawn", "world"]

# A rank stuck in a collective (its peer died without torchrun noticing) gives up after this long.
TIMEOUT = timedelta(seconds=int(os.environ.get("AFINAR_DIST_TIMEOUT", "600")))


@dataclass(frozen=True)
class World:
    """This process's place in the job; a plain single-process run is rank 0 of 1, not ``active``."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    active: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", self.local_rank) if self.active else torch.device("cuda")

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def sum(self, *values: float) -> list[float]:
        """Each value summed over the ranks (float64)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        return self.sum(float(flag))[0] > 0

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    @contextmanager
    def rank_zero_first(self):
        """Rank 0 runs the block before the others (it may fill a cache they then read)."""
        if not self.main:
            self.barrier()
        yield
        if self.main:
            self.barrier()

    @property
    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


_WORLD: World | None = None


def world() -> World:
    """The job this process belongs to; joins it (once) when torchrun started us."""
    global _WORLD
    if _WORLD is None:
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
            local = int(os.environ.get("LOCAL_RANK", 0))
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            kwargs = {}
            if backend == "nccl":  # bind each rank to its GPU (NCCL would otherwise guess from the rank)
                torch.cuda.set_device(local)
                kwargs["device_id"] = torch.device("cuda", local)
            if not dist.is_initialized():
                dist.init_process_group(backend, timeout=TIMEOUT, **kwargs)
            _WORLD = World(dist.get_rank(), dist.get_world_size(), local, True)
        else:
            _WORLD = World()
    return _WORLD


def leave() -> None:
    """Leave the job before the interpreter exits: a gloo process group left to the interpreter's
    teardown can abort the process ("terminate called without an active exception") while its
    worker threads still hold tensors, failing a job whose training succeeded."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(root: torch.nn.Module, layers, bf16: bool) -> None:
    """FSDP2 over each decoder layer of ``layers``, then over ``root`` (embeddings, norm, head)."""
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
    kwargs = {"mp_policy": policy} if policy else {}
    for layer in layers:
        fully_shard(layer, **kwargs)
    fully_shard(root, **kwargs)


def full_tensors(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Whole (unsharded) CPU copies of ``params``; a collective when they are sharded."""
    return {n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().cpu().clone() for n, p in params.items()}


def fault_check(w: World, step: int) -> None:
    """``AFINAR_FAULT_RANK=R:K`` makes rank R raise at step K (tests the job stops, not hangs)."""
    spec = os.environ.get("AFINAR_FAULT_RANK")
    if spec and [int(x) for x in spec.split(":")] == [w.rank, step]:
        raise RuntimeError(f"injected failure on rank {w.rank} at step {step} (AFINAR_FAULT_RANK={spec})")


def launch(nproc: int, args: list[str], nnodes: int = 1, node_rank: int = 0, rdzv_endpoint: str | None = None) -> int:
    """Run ``python -m afinar.train ARGS`` on ``nproc`` processes per node through torchrun;
    returns its exit status (non-zero if any rank failed)."""
    return spawn(nproc, args, nnodes, node_rank, rdzv_endpoint).wait()


def spawn(
    nproc: int,
    args: list[str],
    nnodes: int = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start what :func:`launch` runs (with ``env`` added to this process's environment) and
    return the torchrun process: SIGTERM to it reaches every rank (checkpoint, then stop)."""
    if nproc < 1 or nnodes < 1:
        raise AfinarError(f"--nproc and --nnodes must be at least 1 (got {nproc} and {nnodes})")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        if rdzv_endpoint is None:
            raise AfinarError("several nodes need --rdzv-endpoint HOST:PORT (the same on every node)")
        cmd += [f"--nnodes={nnodes}", f"--node-rank={node_rank}", "--rdzv-backend=c10d"]
        cmd += [f"--rdzv-endpoint={rdzv_endpoint}", "--rdzv-id=afinar"]
    env = {**os.environ, **(env or {})}
    if nproc > 1:  # torchrun would leave one thread per process; give each its share of the cores
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return subprocess.Popen([*cmd, "-m", "afinar.train", *args], env=env)

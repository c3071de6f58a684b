"""torch.distributed helpers that degrade to a single process.

``rank()`` and ``world_size()`` answer 0 and 1 when no process group exists (lightly's habit), so
every code path is the same whether started by ``python`` or by ``torchrun``. Rank, local rank and
world size come from the environment torchrun sets; the device is never derived from ``rank % gpus``.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def init_distributed(timeout_minutes: float = 60.0) -> torch.device:
    """Join the process group torchrun describes (NCCL with one GPU per local rank, else gloo).

    The long timeout covers rank 0 running k-means while the others wait in a broadcast.
    Returns the device this process computes on.
    """
    use_cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank()) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not is_distributed():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            timeout=datetime.timedelta(minutes=timeout_minutes),
            device_id=device if use_cuda else None,
        )
    return device


def shutdown() -> None:
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_tensor(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Broadcast in place and return the tensor (no-op on one process)."""
    if is_distributed():
        dist.broadcast(tensor, src)
    return tensor


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_rows_to_main(local: torch.Tensor, total_rows: int) -> torch.Tensor | None:
    """Concatenate each rank's contiguous block of rows on rank 0, in rank order.

    Rank r holds rows ``shard_bounds(total_rows, r, W)``; blocks differ by at most one row, so they are
    padded to equal length for the collective and the padding is cut off again. Returns the assembled
    (total_rows, ...) tensor on rank 0 and None elsewhere.
    """
    if not is_distributed():
        return local
    world = world_size()
    block = -(-total_rows // world)
    padded = local.new_zeros((block, *local.shape[1:]))
    padded[: len(local)] = local
    # gloo has gather; NCCL only since recent versions and needs device tensors, all_gather works on both.
    parts = [torch.empty_like(padded) for _ in range(world)] if is_main() else None
    if dist.get_backend() == "nccl":
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
    else:
        dist.gather(padded, parts, dst=0)
    if not is_main():
        return None
    blocks = [part[: hi - lo] for part, (lo, hi) in zip(parts, (shard_bounds(total_rows, r, world) for r in range(world)))]
    return torch.cat(blocks)


def shard_bounds(total: int, shard: int, shards: int) -> tuple[int, int]:
    """[lo, hi) of a contiguous, near-equal split of ``range(total)``: no duplicates, no drops."""
    base, extra = divmod(total, shards)
    lo = shard * base + min(shard, extra)
    return lo, lo + base + (1 if shard < extra else 0)

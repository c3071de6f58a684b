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
        timeout = datetime.timedelta(minutes=timeout_minutes)
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            timeout=timeout,
            device_id=device if use_cuda else None,
            **_restart_scoped_store(timeout),
        )
    return device


def _restart_scoped_store(timeout: datetime.timedelta) -> dict:
    """Under torchrun, a store namespace per restart round.

    torchrun's agent keeps one TCPStore across ``--max-restarts`` rounds; with the default namespace a
    restarted rank can read the previous round's peer addresses and fail with "Connection refused"
    (pytorch/pytorch#167288). Keys scoped by TORCHELASTIC_RESTART_COUNT cannot be stale.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return {}
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout)
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return {
        "store": dist.PrefixStore(f"deepcluster/restart_{restart}", store),
        "rank": int(os.environ["RANK"]),
        "world_size": int(os.environ["WORLD_SIZE"]),
    }


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


def gather_parts(local: torch.Tensor, to_main_only: bool = False) -> list[torch.Tensor] | None:
    """Every rank's rows (blocks may differ in length), as one tensor per rank in rank order.

    On all ranks, or with ``to_main_only`` on rank 0 alone (None elsewhere): a gather, on gloo and NCCL
    alike, so the other ranks never receive them (an all-gather would put the whole N x d feature set on
    every GPU). Returning the parts rather than their concatenation lets callers place rows without a
    second full-size copy.
    """
    if not is_distributed():
        return [local]
    world = world_size()
    lengths = torch.zeros(world, dtype=torch.int64, device=local.device)
    lengths[rank()] = len(local)
    all_reduce_sum(lengths)
    padded = local.new_zeros((int(lengths.max()), *local.shape[1:]))
    padded[: len(local)] = local
    if to_main_only:
        parts = [torch.empty_like(padded) for _ in range(world)] if is_main() else None
        dist.gather(padded, parts, dst=0)
        if not is_main():
            return None
    else:
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded)
    return [part[:n] for part, n in zip(parts, lengths.tolist())]


def all_gather_varlen(local: torch.Tensor) -> torch.Tensor:
    """Every rank's rows concatenated in rank order, on every rank (for small arrays)."""
    return torch.cat(gather_parts(local))


def shard_bounds(total: int, shard: int, shards: int) -> tuple[int, int]:
    """[lo, hi) of a contiguous, near-equal split of ``range(total)``: no duplicates, no drops."""
    base, extra = divmod(total, shards)
    lo = shard * base + min(shard, extra)
    return lo, lo + base + (1 if shard < extra else 0)


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP syncs buffers at the start of each training forward, but every rank then updates its own
    running statistics; before eval-mode feature extraction all ranks must use the same ones (those
    the checkpoint holds), or features depend on the rank a sample landed on.
    """
    if not is_distributed():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src)

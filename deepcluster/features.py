"""Feature extraction over the whole dataset, sharded across ranks and assembled on rank 0."""

from __future__ import annotations

import numpy as np
import torch

from . import dist
from .data import ImageSource
from .models import DeepClusterNet
from .runtime import Runtime, progress


@torch.no_grad()
def extract_features(
    net: DeepClusterNet, source: ImageSource, runtime: Runtime, batch_size: int, workers: int, gather: bool = True
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Features of every sample with the deterministic eval transform, in eval mode.

    Rank r extracts the contiguous block ``shard_bounds(N, r, W)``, so the assembled array is
    index-aligned with the dataset with no duplicates and no drops. Rank 0 receives the (N, d) float32
    features and an (N,) bool mask that is False for files that could not be decoded; other ranks None.
    With ``gather=False`` every rank returns only its own block (distributed clustering).
    """
    n = len(source)
    lo, hi = dist.shard_bounds(n, dist.rank(), dist.world_size())
    local = torch.zeros(hi - lo, net.feature_dim)
    valid = torch.zeros(hi - lo, dtype=torch.uint8)
    was_training = net.training
    net.eval()
    batches = source.batches(range(lo, hi), batch_size, train=False, seed=0, workers=workers)
    for images, idx in progress(batches, total=-(-(hi - lo) // batch_size), desc="extract"):
        with runtime.autocast():
            feats = net.features(runtime.prepare(images, source.mean, source.std))
        local[idx - lo] = feats.float().cpu()
        valid[idx - lo] = 1
    net.train(was_training)
    if not gather:
        return local.numpy(), valid.numpy().astype(bool)
    if runtime.device.type == "cuda":  # NCCL collectives need device tensors
        local, valid = local.to(runtime.device), valid.to(runtime.device)
    features = dist.gather_rows_to_main(local, n)
    mask = dist.gather_rows_to_main(valid, n)
    if features is None:
        return None, None
    return features.cpu().numpy(), mask.cpu().numpy().astype(bool)


def extract_for_checkpoint(checkpoint: str, data_name: str, data_root: str | None, limit: int | None = None):
    """Features (N, d) float32 and labels (or None) of a dataset, from a training checkpoint or an
    exported backbone directory, with the engine's eval transform. See ``deepcluster.pretrained``."""
    from .pretrained import extract_for_checkpoint as extract

    return extract(checkpoint, data_name, data_root, limit)

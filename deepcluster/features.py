"""Feature extraction over the whole dataset, sharded across ranks and assembled on rank 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import dist
from .data import ImageSource
from .models import DeepClusterNet
from .runtime import Runtime, progress


def _forward_batches(net, batches, runtime: Runtime, source: ImageSource, total: int | None, taps: bool):
    """Yield ({output name: features}, indices) of each batch, in eval mode."""
    was_training = net.training
    net.eval()
    try:
        for images, idx in progress(batches, total=total, desc="extract"):
            with runtime.autocast():
                x = runtime.prepare(images, source.mean, source.std)
                outputs = net.feature_taps(x) if taps else {FEATURES: net.features(x)}
            # float16 also halves the device-to-host copy
            yield {name: f.to(runtime.feature_dtype).cpu() for name, f in outputs.items()}, idx
    finally:
        net.train(was_training)


FEATURES = "features"  # the one output of a plain extraction (``net.features``)


@dataclass
class LocalFeatures:
    """One rank's share of an extraction: rows ``indices`` of the dataset, one array per output."""

    outputs: dict[str, torch.Tensor]  # name -> (n_local, d) in runtime.feature_dtype
    valid: torch.Tensor  # (n_local,) uint8, 0 for samples that could not be decoded
    indices: torch.Tensor  # (n_local,) int64 dataset indices


@torch.no_grad()
def extract_local(net, source: ImageSource, runtime: Runtime, batch_size: int, workers: int,
                  taps: bool = False) -> LocalFeatures:
    """This rank's share of the features of every sample, with the deterministic eval transform.

    Rank r extracts the contiguous block ``shard_bounds(N, r, W)`` of an indexed source, or the samples
    of its own shards for a streaming one, so the shares are disjoint and cover the dataset. With
    ``taps`` the outputs are ``net.feature_taps`` (backbone and clustered layer from one pass),
    otherwise ``net.features`` under the name ``FEATURES``.
    """
    names = net.tap_names if taps else (FEATURES,)
    dims = _output_dims(net, source, runtime, taps) if taps else {FEATURES: net.feature_dim}
    if source.streaming:
        parts = list(_forward_batches(net, source.local_batches(batch_size, workers), runtime, source, None, taps))
        outputs = {name: torch.cat([f[name] for f, _ in parts]) if parts else
                   torch.zeros(0, dims[name], dtype=runtime.feature_dtype) for name in names}
        indices = torch.cat([i for _, i in parts]) if parts else torch.zeros(0, dtype=torch.int64)
        valid = torch.ones(len(indices), dtype=torch.uint8)
        return LocalFeatures(outputs, valid, indices)
    lo, hi = dist.shard_bounds(len(source), dist.rank(), dist.world_size())
    outputs = {name: torch.zeros(hi - lo, dims[name], dtype=runtime.feature_dtype) for name in names}
    valid = torch.zeros(hi - lo, dtype=torch.uint8)
    batches = source.batches(range(lo, hi), batch_size, train=False, seed=0, workers=workers)
    for feats, idx in _forward_batches(net, batches, runtime, source, -(-(hi - lo) // batch_size), taps):
        for name in names:
            outputs[name][idx - lo] = feats[name]
        valid[idx - lo] = 1
    return LocalFeatures(outputs, valid, torch.arange(lo, hi))


def _output_dims(net, source: ImageSource, runtime: Runtime, taps: bool) -> dict[str, int]:
    """Width of each tap, from one blank image (cheap next to an extraction; no data needed)."""
    was_training = net.training
    net.eval()
    try:
        blank = torch.zeros(1, source.channels, source.image_size, source.image_size, device=runtime.device)
        return {name: f.shape[1] for name, f in net.feature_taps(blank).items()}
    finally:
        net.train(was_training)


@torch.no_grad()
def extract_features(
    net: DeepClusterNet, source: ImageSource, runtime: Runtime, batch_size: int, workers: int, gather: bool = True
):
    """Features of every sample with the deterministic eval transform, in eval mode.

    Rank 0 receives the (N, d) features in ``runtime.feature_dtype`` (float32, or float16 for half the
    host memory), index-aligned with the dataset, and an (N,) bool mask that is False for samples that
    could not be decoded; other ranks get (None, None). With ``gather=False`` every rank returns only
    its own rows: (features, valid, dataset indices).
    """
    local = extract_local(net, source, runtime, batch_size, workers)
    if not gather:
        return local.outputs[FEATURES].numpy(), local.valid.numpy().astype(bool), local.indices.numpy()
    return assemble_on_main(local.outputs[FEATURES], local.valid, local.indices, len(source), runtime.device)


GATHER_CHUNK_BYTES = 64 << 20  # per rank and step: bounds what rank 0 (and its GPU under NCCL) holds in flight


def assemble_on_main(local: torch.Tensor, valid: torch.Tensor, indices: torch.Tensor, n: int, device: torch.device,
                     chunk_bytes: int = GATHER_CHUNK_BYTES):
    """Every rank's rows placed at their dataset indices in one (n, d) array on rank 0; (None, None) elsewhere.

    The blocks travel in chunks of about ``chunk_bytes`` per rank, each written into place as it arrives:
    rank 0 holds the assembled array plus one chunk per rank, never a second full copy, and under NCCL
    its GPU never holds more than those chunks (1.28M x 4096 float32 would be 21 GB at once).
    """
    comm = device if device.type == "cuda" else torch.device("cpu")  # NCCL needs device tensors
    longest = int(dist.all_gather_varlen(torch.tensor([len(local)], device=comm)).max())
    rows_per_chunk = max(1, chunk_bytes // max(1, local.shape[1] * local.element_size()))
    features = torch.zeros(n, local.shape[1], dtype=local.dtype).numpy() if dist.is_main() else None
    mask = np.zeros(n, dtype=bool) if dist.is_main() else None
    for start in range(0, longest, rows_per_chunk):
        part = slice(start, start + rows_per_chunk)
        rows = dist.gather_parts(indices[part].to(comm), to_main_only=True)
        ok = dist.gather_parts(valid[part].to(comm), to_main_only=True)
        blocks = dist.gather_parts(local[part].to(comm), to_main_only=True)
        if dist.is_main():
            for r, v, block in zip(rows, ok, blocks):
                r = r.cpu().numpy()
                features[r] = block.cpu().numpy()
                mask[r] = v.cpu().numpy().astype(bool)
    return features, mask

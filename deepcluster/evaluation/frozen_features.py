"""Features of a frozen, saved network (checkpoint, run directory or export), for heads and feature files.

``extract_layer`` reads any layer the probes read, a spatial one average-pooled to at most
``DEFAULT_MAX_DIMS`` dimensions unless asked otherwise; ``save_features_file`` writes the ``.npz`` that
``launch/cluster.py --features`` reads. Each logs what it reads and how large the result is.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .. import dist
from ..atomic import atomic_open
from ..config import TrainConfig
from ..data import ImageSource
from ..features import extract_features
from ..models.taps import PENULTIMATE, LayerTaps
from ..pretrained import Pretrained, build_checked_source, data_config, default_device, load_pretrained
from ..runtime import select_runtime

log = logging.getLogger(__name__)

# Spatial layers are pooled to at most this many dims for feature files: conv3 of the compact net at 28 px
# is 128 x 4 x 4 = 2,048 instead of 128 x 7 x 7 = 6,272 (a 1.76 GB file for Fashion-MNIST's 70,000 images,
# whose PCA-whitening then takes minutes).
DEFAULT_MAX_DIMS = 2048


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MB"


def extract_for_checkpoint(checkpoint: str, data_name: str, data_root: str | None, limit: int | None = None):
    """Features (N, d) float32 and labels (N,) int64 or None of ``data_name`` (split "all"), from a
    checkpoint, run directory or export directory, with the engine's deterministic eval transform.
    Samples that could not be decoded are left out (features and labels stay aligned)."""
    pre = load_pretrained(checkpoint)
    source = build_checked_source(pre, data_config(pre, data_name, data_root, "all", limit))
    device = default_device()
    runtime = select_runtime(TrainConfig(amp="off"), device)
    extractor = pre.extractor.to(device)
    dim = pre.extractor.feature_dim
    if dist.is_main():
        log.info("extracting the %s-d clustered features of %s (%s, epoch %d) from %s: %s images at %d px on %s "
                 "(%s of float32)", f"{dim:,}", checkpoint, pre.config.model.arch, pre.epoch, data_name,
                 f"{len(source):,}", source.image_size, device, _size(4.0 * dim * len(source)))
    start = time.perf_counter()
    features, valid = extract_features(extractor, source, runtime, batch_size=256, workers=pre.config.train.workers)
    if features is None:  # a non-zero torchrun rank: features are assembled on rank 0 only
        return None, None
    log.info("extracted %s x %s features in %.1f s (%d undecodable left out)", f"{int(valid.sum()):,}", f"{dim:,}",
             time.perf_counter() - start, int((~valid).sum()))
    labels = source.labels[valid] if source.labels is not None else None
    return features[valid].astype(np.float32), labels


class _OneLayer(nn.Module):
    """Adapts a layer tap to ``extract_features`` (which calls ``.features`` and reads ``.feature_dim``)."""

    def __init__(self, taps: nn.Module, layer: str):
        super().__init__()
        self.taps, self.layer, self.feature_dim = taps, layer, taps.dims[layer]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.taps(x)[self.layer]


def layer_taps(pre: Pretrained, layer: str, target_dims: int | None = None,
               max_dims: int = DEFAULT_MAX_DIMS) -> LayerTaps:
    """The tap of one layer: pooled to C·s² closest to ``target_dims`` (the linear probes' rule) when given,
    else to the largest C·s² <= ``max_dims`` (0: unpooled)."""
    if target_dims is not None:
        return LayerTaps(pre.extractor.eval(), pre.config.model.arch, [layer], pre.channels, pre.image_size,
                         target_dims)
    return LayerTaps(pre.extractor.eval(), pre.config.model.arch, [layer], pre.channels, pre.image_size,
                     max_dims=max_dims)


def describe_layer(taps: LayerTaps, layer: str) -> str:
    """'conv3 of compact: 128 x 7 x 7 = 6,272 dims, average-pooled to 128 x 4 x 4 = 2,048'."""
    shape, dims = taps.shapes[layer], taps.dims[layer]
    if len(shape) == 1:
        why = "the clustered features" if layer == PENULTIMATE else "not spatial"
        return f"{layer} of {taps.arch}: {dims:,} dims ({why}, never pooled)"
    channels, height, width = shape
    full = f"{layer} of {taps.arch}: {channels} x {height} x {width} = {channels * height * width:,} dims"
    side = taps.pool_sides[layer]
    if side == width:
        return f"{full}, unpooled"
    return f"{full}, average-pooled to {channels} x {side} x {side} = {dims:,}"


def extract_layer(pre: Pretrained, source: ImageSource, layer: str, device: torch.device, batch_size: int = 256,
                  workers: int = 0, target_dims: int | None = None, max_dims: int = DEFAULT_MAX_DIMS):
    """(features, valid) of one layer, pooled as ``layer_taps`` says, sharded over torchrun ranks; rank 0 gets
    arrays, other ranks (None, None)."""
    return extract_taps(layer_taps(pre, layer, target_dims, max_dims), layer, source, device, batch_size, workers)


def extract_taps(taps: LayerTaps, layer: str, source: ImageSource, device: torch.device, batch_size: int = 256,
                 workers: int = 0):
    """``extract_layer`` with the tap already built (to describe it first)."""
    runtime = select_runtime(TrainConfig(amp="off"), device)
    return extract_features(_OneLayer(taps, layer).to(device), source, runtime, batch_size, workers)


def save_features_file(path: str | Path, features: np.ndarray, valid: np.ndarray, source: ImageSource) -> Path:
    """Write ``features`` (N, d) float32, ``labels`` (when known), ``index`` (dataset position) and ``keys``
    (path or index as text) for the decodable samples, atomically, without pickled objects."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.flatnonzero(valid)
    arrays = {"features": np.ascontiguousarray(features[rows], dtype=np.float32), "index": rows.astype(np.int64),
              "keys": np.asarray([source.keys[i] for i in rows], dtype=str)}
    if source.labels is not None:
        arrays["labels"] = np.asarray(source.labels, dtype=np.int64)[rows]
    with atomic_open(path) as f:
        np.savez(f, **arrays)
    log.info("wrote %s: %s x %s float32 (%s)", path, f"{len(rows):,}", f"{features.shape[1]:,}",
             _size(path.stat().st_size))
    return path

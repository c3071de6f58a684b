"""Features of a frozen, saved network (checkpoint, run directory or export), for heads and feature files.

``extract_layer`` reads any layer the probes read (pooled as they pool it); ``save_features_file`` writes
the ``.npz`` that ``launch/cluster.py --features`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..atomic import atomic_open
from ..config import TrainConfig
from ..data import ImageSource
from ..features import extract_features
from ..models.taps import DEFAULT_TARGET_DIMS, LayerTaps
from ..pretrained import Pretrained, build_checked_source, data_config, default_device, load_pretrained
from ..runtime import select_runtime


def extract_for_checkpoint(checkpoint: str, data_name: str, data_root: str | None, limit: int | None = None):
    """Features (N, d) float32 and labels (N,) int64 or None of ``data_name`` (split "all"), from a
    checkpoint, run directory or export directory, with the engine's deterministic eval transform.
    Samples that could not be decoded are left out (features and labels stay aligned)."""
    pre = load_pretrained(checkpoint)
    source = build_checked_source(pre, data_config(pre, data_name, data_root, "all", limit))
    device = default_device()
    runtime = select_runtime(TrainConfig(amp="off"), device)
    extractor = pre.extractor.to(device)
    features, valid = extract_features(extractor, source, runtime, batch_size=256, workers=pre.config.train.workers)
    if features is None:  # a non-zero torchrun rank: features are assembled on rank 0 only
        return None, None
    labels = source.labels[valid] if source.labels is not None else None
    return features[valid].astype(np.float32), labels


class _OneLayer(nn.Module):
    """Adapts a layer tap to ``extract_features`` (which calls ``.features`` and reads ``.feature_dim``)."""

    def __init__(self, taps: nn.Module, layer: str):
        super().__init__()
        self.taps, self.layer, self.feature_dim = taps, layer, taps.dims[layer]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.taps(x)[self.layer]


def extract_layer(pre: Pretrained, source: ImageSource, layer: str, device: torch.device, batch_size: int = 256,
                  workers: int = 0, target_dims: int | None = None):
    """(features, valid) of one layer (pooled as the linear probes pool it), sharded over torchrun ranks;
    rank 0 gets arrays, other ranks (None, None)."""
    taps = LayerTaps(pre.extractor.eval(), pre.config.model.arch, [layer], pre.channels, pre.image_size,
                     target_dims or DEFAULT_TARGET_DIMS)
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
    return path

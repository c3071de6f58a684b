"""One epoch of supervised training on the current pseudo-labels."""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import dist
from ..data import ImageSource
from ..data.augment import random_resized_crop_flip
from ..runtime import Runtime, progress


def train_one_epoch(
    model: nn.Module,
    source: ImageSource,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n_batches: int,
    pseudo_labels: np.ndarray,
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    seed: int,
    crop_min_scale: float,
    flip: bool,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, int]:
    """SGD over this rank's ``batches`` (uint8 images, dataset indices) with cross-entropy to ``pseudo_labels``.

    ``model`` may be DDP-wrapped. In-memory sources are augmented per batch on the device with a
    generator seeded from ``seed`` (exactly reproducible); folder and shard sources were augmented by
    their loader workers. Returns the mean loss over all ranks and the number of images this rank saw.
    """
    model.train()
    targets_all = torch.from_numpy(pseudo_labels)
    generator = torch.Generator(device=runtime.device).manual_seed(seed)
    loss_sum = torch.zeros((), dtype=torch.float64, device=runtime.device)  # no per-step host sync
    seen = 0
    for images, idx in progress(batches, total=n_batches, desc="train"):
        x = runtime.prepare(images, source.mean, source.std)
        if source.augment_on_device:
            x = random_resized_crop_flip(x, generator, crop_min_scale, flip)
        targets = targets_all[idx].to(runtime.device, non_blocking=True)
        with runtime.autocast():
            loss = F.cross_entropy(model(x), targets)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        loss_sum += loss.detach().double() * len(idx)
        seen += len(idx)
    totals = torch.stack([loss_sum, torch.tensor(float(seen), dtype=torch.float64, device=runtime.device)])
    totals = dist.all_reduce_sum(totals).cpu()
    return float(totals[0] / max(float(totals[1]), 1.0)), seen

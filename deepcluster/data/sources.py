"""Image sources: a dataset addressed by integer index, served in batches of uint8 tensors.

Two implementations share one interface so the DeepCluster loop never asks where pixels come from:

- ``TensorSource`` keeps a small dataset (MNIST-like, CIFAR) in memory as one uint8 tensor; batches are
  slices, and the training augmentation runs on the whole batch on the device (``augment_on_device``).
- ``FolderSource`` decodes image files in DataLoader workers with torchvision's per-sample transforms
  (eval: resize + center crop; train: random-resized-crop + flip). Files that fail to decode are left
  out of the batch and recorded in ``unreadable``; the run reports them once and excludes them from
  clustering and training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2 as T

from .decode import UnreadableImage, load_image


@dataclass
class ImageSource:
    """What every source has: N samples, optional labels, a key per sample, normalisation stats."""

    labels: np.ndarray | None  # (N,) int64 class ids, or None for unlabelled data
    keys: list[str]  # a stable name per sample: a relative path, or the index as text
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    unreadable: set[int] = field(default_factory=set)
    held_out: np.ndarray | None = None  # (N,) bool: True for samples of the dataset's test split (split=all)

    augment_on_device = False  # True: the training augmentation runs on the whole batch on the device
    streaming = False  # True: samples come as each rank's stream (shards), not by index

    def __len__(self) -> int:
        return len(self.keys)

    def batches(
        self, indices: Sequence[int], batch_size: int, train: bool, seed: int, workers: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (uint8 images (B, C, S, S), int64 dataset indices (B,)) in the order of ``indices``."""
        raise NotImplementedError


@dataclass
class TensorSource(ImageSource):
    images: torch.Tensor = None  # (N, C, S, S) uint8, already at image_size

    augment_on_device = True

    def batches(self, indices, batch_size, train, seed, workers):
        order = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield self.images[idx], idx


class _FolderDataset(Dataset):
    def __init__(self, root: Path, files: list[str], transform, channels: int = 3):
        self.root, self.files, self.transform, self.channels = root, files, transform, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        try:
            image = self.transform(load_image(self.root / self.files[index], self.channels))
        except UnreadableImage:
            image = None
        return image, index


def image_transform(size: int, train: bool, crop_min_scale: float, flip: bool):
    """Per-sample transform of decoded files: train = random-resized-crop (+ flip); eval = the ImageNet
    convention, resize to size·256/224 then center crop. Output: uint8 (C, size, size)."""
    if train:
        ops = [T.RandomResizedCrop(size, scale=(crop_min_scale, 1.0), antialias=True)]
        ops += [T.RandomHorizontalFlip()] if flip else []
    else:
        ops = [T.Resize(round(size * 256 / 224), antialias=True), T.CenterCrop(size)]
    return T.Compose([T.PILToTensor(), *ops])


def collate_skipping_unreadable(samples):
    """(images or None, indices, indices of undecodable samples) from (image or None, index) pairs."""
    good = [(img, i) for img, i in samples if img is not None]
    bad = torch.tensor([i for img, i in samples if img is None], dtype=torch.int64)
    if not good:
        return None, torch.empty(0, dtype=torch.int64), bad
    images, idx = zip(*good)
    return torch.stack(images), torch.tensor(idx, dtype=torch.int64), bad


class _IndexList(torch.utils.data.Sampler):
    def __init__(self, indices):
        self.indices = list(map(int, indices))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


@dataclass
class FolderSource(ImageSource):
    root: Path = None
    crop_min_scale: float = 0.08
    flip: bool = True

    def _transform(self, train: bool):
        return image_transform(self.image_size, train, self.crop_min_scale, self.flip)

    def batches(self, indices, batch_size, train, seed, workers):
        loader = DataLoader(
            _FolderDataset(self.root, self.keys, self._transform(train), self.channels),
            batch_size=batch_size,
            sampler=_IndexList(indices),
            num_workers=workers,
            collate_fn=collate_skipping_unreadable,
            generator=torch.Generator().manual_seed(seed),
            pin_memory=torch.cuda.is_available(),
            persistent_workers=False,
        )
        for images, idx, bad in loader:
            self.unreadable.update(bad.tolist())
            if images is not None:
                yield images, idx

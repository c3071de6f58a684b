"""Build the image source named by ``cfg.data``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import dist
from ..config import DataConfig
from .idx import DEBIAN_FASHION_MNIST, load_idx_split
from .imagefolder import folder_format, scan_image_folder
from .shards import ShardSource, expand_shards, scan_shards
from .sources import FolderSource, ImageSource, TensorSource

# Per-channel mean/std in [0, 1] units, measured on each training set.
STATS = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet's
    "imagefolder_gray": ((0.449,), (0.226,)),  # ImageNet's, averaged over the channels: grayscale folders
    "webdataset": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
IN_MEMORY = ("fashion_mnist", "mnist", "cifar10")
# The size when data.image_size is None. An image folder whose sampled images share one size is trained at
# that size instead (``folder_format``); 224 is for folders of mixed sizes.
NATIVE_SIZE = {"fashion_mnist": 28, "mnist": 28, "cifar10": 32, "imagefolder": 224, "webdataset": 224}

log = logging.getLogger(__name__)


VAL_SIZE = 10_000  # validation = the last 10,000 images of the train split; fit = the rest
HELD_OUT_SPLIT = {"train": "test", "fit": "val"}  # the labelled split the k-NN monitor queries per split


def _load_split(cfg: DataConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W[, C]) uint8 images and labels of one file split ('train' or 'test') of an in-memory dataset."""
    if cfg.name in ("fashion_mnist", "mnist"):
        root = Path(cfg.root) if cfg.root else DEBIAN_FASHION_MNIST
        if not root.exists():
            raise FileNotFoundError(
                f"{root} does not exist; install Debian's dataset-fashion-mnist package "
                "(apt-get install -y dataset-fashion-mnist) or set data.root"
            )
        return load_idx_split(root, split)
    if cfg.name == "cifar10":
        from torchvision.datasets import CIFAR10

        part = CIFAR10(cfg.root, train=split == "train", download=False)
        return part.data, np.asarray(part.targets, dtype=np.int64)
    raise ValueError(f"{cfg.name} is not an in-memory dataset")


def _load_arrays(cfg: DataConfig, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, labels and the held-out mask (True for test-split images) of ``split``.

    'all' is train then test (as clustering papers use); 'fit' and 'val' carve the train split into
    the part settings are tuned on and the part they are scored on, so the test split stays unseen.
    """
    if split == "all":
        parts = [_load_split(cfg, s) for s in ("train", "test")]
        held_out = np.concatenate([np.zeros(len(parts[0][1]), bool), np.ones(len(parts[1][1]), bool)])
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), held_out
    images, labels = _load_split(cfg, "test" if split == "test" else "train")
    if split in ("fit", "val"):
        if len(labels) <= VAL_SIZE:
            raise ValueError(f"the train split of {cfg.name} has {len(labels)} images, too few to carve a "
                             f"{VAL_SIZE:,}-image validation split from")
        cut = slice(None, -VAL_SIZE) if split == "fit" else slice(-VAL_SIZE, None)
        images, labels = images[cut], labels[cut]
    return images, labels, np.zeros(len(labels), bool)


def _tensor_source(cfg: DataConfig, split: str | None = None) -> TensorSource:
    images, labels, held_out = _load_arrays(cfg, split or cfg.split)
    if cfg.limit:
        images, labels, held_out = images[: cfg.limit], labels[: cfg.limit], held_out[: cfg.limit]
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    tensor = tensor.unsqueeze(1) if tensor.ndim == 3 else tensor.permute(0, 3, 1, 2).contiguous()
    size = cfg.image_size or NATIVE_SIZE[cfg.name]
    if size != tensor.shape[-1]:
        resized = F.interpolate(tensor.float(), size=(size, size), mode="bilinear", antialias=True)
        tensor = resized.round().clamp(0, 255).to(torch.uint8)
    mean, std = STATS[cfg.name]
    return TensorSource(
        labels=labels,
        keys=[str(i) for i in range(len(tensor))],
        channels=tensor.shape[1],
        image_size=size,
        mean=mean,
        std=std,
        held_out=held_out if held_out.any() else None,
        images=tensor,
    )


def build_held_out_source(cfg: DataConfig) -> ImageSource | None:
    """The labelled split next to the one trained on (test beside train, val beside fit), or None.

    Capped by ``data.limit`` like the training split, so smoke runs stay small.
    """
    split = HELD_OUT_SPLIT.get(cfg.split)
    if split is None or cfg.name not in IN_MEMORY:
        return None
    return _tensor_source(cfg, split)


def default_crop_min_scale(cfg: DataConfig, image_size: int) -> float:
    """ImageNet's 0.08 destroys 28-px images; small images keep at least 30 % of their area."""
    if cfg.crop_min_scale is not None:
        return cfg.crop_min_scale
    return 0.08 if image_size >= 96 else 0.3


def _shard_source(cfg: DataConfig) -> ShardSource:
    shards = expand_shards(cfg.urls)
    missing = [s for s in shards if not Path(s).is_file()]
    if missing:
        raise FileNotFoundError(f"data.urls names {len(missing)} shard(s) that do not exist, e.g. {missing[0]}")
    keys, labels = scan_shards(shards)
    size = cfg.image_size or NATIVE_SIZE["webdataset"]
    mean, std = STATS["webdataset"]
    return ShardSource(labels=labels, keys=keys, channels=3, image_size=size, mean=mean, std=std, shards=shards,
                       crop_min_scale=default_crop_min_scale(cfg, size), flip=cfg.flip)


def _folder_source(cfg: DataConfig, channels: int | None) -> FolderSource:
    """An image folder at its native size and channels (``folder_format``) unless told otherwise.

    The size chosen is written back into ``cfg.image_size``, so the config and checkpoints a run saves say
    what it was trained at (a network must be rebuilt at that size). ``channels=3`` reads a grayscale
    folder as RGB (R = G = B), for a network trained on colour images.
    """
    files, labels, _ = scan_image_folder(cfg.root)
    if cfg.limit:
        files = files[: cfg.limit]
        labels = labels[: cfg.limit] if labels is not None else None
    found = folder_format(cfg.root, files, cfg.image_size, NATIVE_SIZE["imagefolder"])
    channels = channels or found.channels
    if dist.is_main():
        log.info("image folder %s: %s%s", cfg.root, found.reason,
                 "" if channels == found.channels else f"; read as {channels} channels for the network")
    cfg.image_size = found.image_size
    mean, std = STATS["imagefolder" if channels == 3 else "imagefolder_gray"]
    return FolderSource(
        labels=labels,
        keys=files,
        channels=channels,
        image_size=found.image_size,
        mean=mean,
        std=std,
        root=Path(cfg.root),
        crop_min_scale=default_crop_min_scale(cfg, found.image_size),
        flip=cfg.flip,
    )


def build_source(cfg: DataConfig, channels: int | None = None) -> ImageSource:
    """The dataset of ``cfg``; ``channels`` (image folders only) overrides the channels found in the files."""
    if cfg.name == "webdataset":
        return _shard_source(cfg)
    if cfg.name == "imagefolder":
        return _folder_source(cfg, channels)
    return _tensor_source(cfg)

"""Readers for the IDX files of MNIST and Fashion-MNIST.

Debian's ``dataset-fashion-mnist`` package ships the four original ``.gz`` files under
``/usr/share/datasets/fashion-mnist``; reading them directly means a fresh Debian box needs no download.
The format is tiny (a magic number, the dimensions, then raw bytes), so we parse it here rather than
rely on torchvision's folder layout (``FashionMNIST/raw``) and its ``download`` machinery.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise ValueError(f"{path} is truncated: header says {expected} bytes of data, file has {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims).copy()  # writable


def find_idx_file(root: Path, stem: str) -> Path:
    """Find ``stem`` or ``stem.gz`` in ``root`` or in torchvision's ``<Name>/raw`` layout below it."""
    candidates = [root, *sorted(p for p in root.glob("*/raw") if p.is_dir())]
    for folder in candidates:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"cannot find {stem}[.gz] under {root} (looked in {', '.join(str(c) for c in candidates)}); "
        "point data.root at the folder holding the IDX files"
    )


def load_idx_split(root: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split ('train' or 'test')."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {sorted(SPLIT_FILES)}, got {split!r}")
    root = Path(root)
    images_stem, labels_stem = SPLIT_FILES[split]
    images = read_idx(find_idx_file(root, images_stem))
    labels = read_idx(find_idx_file(root, labels_stem)).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{root}: {len(images)} images but {len(labels)} labels in the {split} split")
    return images, labels


def load_idx_dataset(root: str | Path, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of 'train', 'test' or 'all' (train then test, 70,000 for (Fashion-)MNIST)."""
    if split == "all":
        parts = [load_idx_split(root, s) for s in ("train", "test")]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return load_idx_split(root, split)

"""What the clustering heads run on: raw pixels, a features file, or a checkpoint's features.

Raw pixels are flattened and scaled to [0, 1] (the DEC-keras convention), train and test together, as
every reference reports; an image folder qualifies when its images share one size. A features file is the
``.npz`` written by launch/extract.py: ``features`` (N, d), optional ``labels`` (N,), ``index`` (N,) and
``keys`` (N,); it is validated before anything runs. Every loader logs what it reads and how large it is,
and the slow ones (a large features file, decoding a folder) show a progress bar when asked to.
"""

from __future__ import annotations

import logging
import time
import zipfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .base import check_features

PIXEL_DATASETS = ("fashion_mnist", "mnist", "cifar10", "imagefolder")
READ_CHUNK_BYTES = 64 << 20  # a features file is read in pieces of this size, so its progress can be shown

log = logging.getLogger(__name__)


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MB"


def raw_pixels(name: str, root: str | None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, pixels) float32 in [0, 1] and int64 labels of a whole dataset (train + test)."""
    log.info("reading the raw pixels of %s (train + test)%s", name, f" from {root}" if root else "")
    if name in ("fashion_mnist", "mnist"):
        from deepcluster.data.idx import DEBIAN_FASHION_MNIST, load_idx_dataset

        if root is None:
            if name == "mnist":
                raise ValueError("--data mnist needs --data-root (the folder with the MNIST IDX files)")
            root = str(DEBIAN_FASHION_MNIST)
        images, labels = load_idx_dataset(root, "all")
    elif name == "cifar10":
        if root is None:
            raise ValueError("--data cifar10 needs --data-root (torchvision's CIFAR-10 folder)")
        from torchvision.datasets import CIFAR10

        parts = [CIFAR10(root, train=train, download=False) for train in (True, False)]
        images = np.concatenate([p.data for p in parts])
        labels = np.concatenate([np.asarray(p.targets, dtype=np.int64) for p in parts])
    elif name == "imagefolder":
        if root is None:
            raise ValueError("--data imagefolder needs --data-root (the image folder)")
        return folder_pixels(root, progress)
    else:
        raise ValueError(f"unknown --data {name!r}; raw pixels are available for {', '.join(PIXEL_DATASETS)}")
    return images.reshape(len(images), -1).astype(np.float32) / 255.0, labels.astype(np.int64)


def folder_pixels(root: str, progress: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw pixels of an image folder whose images all share one size; unreadable files are skipped and counted.

    Grayscale folders (R = G = B in every image) keep one channel, so a folder of PNG digits clusters on the
    same 784 numbers as the IDX version would.
    """
    from deepcluster.data.decode import UnreadableImage, load_rgb
    from deepcluster.data.imagefolder import scan_image_folder

    files, labels, _ = scan_image_folder(root)
    log.info("decoding the %s image files under %s", f"{len(files):,}", root)
    images, kept, skipped = [], [], 0
    for i, rel in enumerate(tqdm(files, desc="decode images", unit="img", disable=not progress, leave=False)):
        try:
            images.append(np.asarray(load_rgb(Path(root) / rel)))
            kept.append(i)
        except UnreadableImage:
            skipped += 1
    if skipped:
        print(f"warning: skipped {skipped} unreadable image(s) of {len(files)} under {root}", flush=True)
    if not images:
        raise ValueError(f"none of the {len(files)} image files under {root} could be decoded")
    sizes = sorted({im.shape[:2] for im in images})
    if len(sizes) > 1:
        raise ValueError(f"raw pixels need images of one size, but {root} has {len(sizes)} sizes "
                         f"(e.g. {sizes[0]} and {sizes[-1]}); resize the folder, or cluster features instead "
                         "(--features FILE from launch/extract.py, or --checkpoint FILE)")
    stack = np.stack(images)
    if (stack == stack[..., :1]).all():
        stack = stack[..., 0]
    labels = labels[kept] if labels is not None else None
    return stack.reshape(len(stack), -1).astype(np.float32) / 255.0, labels


def _read_npz_array(path: Path, name: str, progress: bool) -> np.ndarray | None:
    """One array of an .npz read piece by piece into its final buffer (one copy, a progress bar on the way);
    None when the member is not a plain .npy of numbers (then ``np.load`` reads it)."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            return None
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(f)
        if dtype.hasobject:
            return None
        n_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        log.info("reading features file %s: %s %s (%s)", path, " x ".join(f"{n:,}" for n in shape), dtype,
                 _size(n_bytes))
        buffer = np.empty(n_bytes, dtype=np.uint8)
        with tqdm(total=n_bytes, desc="read features", unit="B", unit_scale=True, unit_divisor=1024,
                  disable=not progress, leave=False) as bar:
            view, done = memoryview(buffer), 0
            while done < n_bytes:
                got = f.readinto(view[done : done + READ_CHUNK_BYTES])
                if not got:
                    raise ValueError(f"{path}: '{name}' is truncated ({done:,} of {n_bytes:,} bytes); "
                                     "re-run launch/extract.py")
                done += got
                bar.update(got)
    return buffer.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def load_features_file(path: str | Path, progress: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and labels (or None) of an extracted ``.npz``, checked for shape, length and NaN/Inf."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"features file {path} does not exist; write it with launch/extract.py")
    start = time.perf_counter()
    with np.load(path, allow_pickle=False) as f:
        if "features" not in f:
            raise KeyError(f"{path} has no 'features' array (it holds {sorted(f.files)})")
        features = _read_npz_array(path, "features", progress)
        if features is None:
            features = f["features"]
        labels = f["labels"] if "labels" in f else None
        extras = {name: f[name] for name in ("index", "keys") if name in f}
    features = check_features(features, what=f"{path} features")
    log.info("read %s x %s features%s in %.1f s", f"{features.shape[0]:,}", f"{features.shape[1]:,}",
             " and labels" if labels is not None else " (no labels)", time.perf_counter() - start)
    for name, arr in [("labels", labels), *extras.items()]:
        if arr is not None and len(arr) != len(features):
            raise ValueError(f"{path}: 'features' has {len(features)} rows but '{name}' has {len(arr)}; "
                             "the file is inconsistent, re-run launch/extract.py")
    if labels is not None:
        labels = np.asarray(labels).astype(np.int64).ravel()
    return features, labels


def checkpoint_features(checkpoint: str, name: str, root: str | None,
                        limit: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Features of a training checkpoint or exported backbone, with the engine's deterministic transform.

    ``limit`` is the engine's ``data.limit``: only the first N samples are extracted (not the random subset
    taken from pixels and features files), so a quick look at a large dataset stays quick.
    """
    from deepcluster.evaluation.frozen_features import extract_for_checkpoint

    features, labels = extract_for_checkpoint(checkpoint, name, root, limit=limit)
    features = check_features(features, what=f"features of {checkpoint}")
    if labels is not None and len(labels) != len(features):
        raise ValueError(f"{checkpoint}: {len(features)} feature rows but {len(labels)} labels")
    return features, labels


def take_subset(features: np.ndarray, labels: np.ndarray | None, limit: int | None,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """A fixed random subset of ``limit`` rows (the same for every run and method), in original order."""
    if limit is None or limit >= len(features):
        return features, labels
    if limit < 1:
        raise ValueError(f"--limit must be positive, got {limit}")
    log.info("--limit %s: a fixed random subset of the %s rows (seed %d)", f"{limit:,}", f"{len(features):,}", seed)
    rows = np.sort(np.random.default_rng(seed).permutation(len(features))[:limit])
    return features[rows], (labels[rows] if labels is not None else None)


def load_inputs(data: str, data_root: str | None, features_file: str | None, checkpoint: str | None,
                limit: int | None, progress: bool = False) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Features, labels (or None) and a one-line description of where they came from."""
    if features_file and checkpoint:
        raise ValueError("pass either --features or --checkpoint, not both")
    if features_file:
        x, y = load_features_file(features_file, progress)
        source = f"features file {features_file}"
    elif checkpoint:
        x, y = checkpoint_features(checkpoint, data, data_root, limit)
        source = f"checkpoint {checkpoint} on {data}"
    else:
        x, y = raw_pixels(data, data_root, progress)
        source = f"raw pixels of {data}"
    x, y = take_subset(x, y, limit)
    return x, y, source

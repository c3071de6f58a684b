"""A tiny dataset to annotate: 36 images of three shapes in a folder, and a features file of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import write_shapes_folder
from deepcluster.data.imagefolder import scan_image_folder


def write_features_dataset(root: Path, per_class: int = 12) -> tuple[Path, Path]:
    """(image folder, features .npz): 2-D features, each shape a tight group on the unit circle; the last image
    of every class lies nearer the next class, so it is clustered there, last (the likely mistake)."""
    folder = root / "shapes"
    write_shapes_folder(folder, per_class=per_class)
    files, labels, _ = scan_image_folder(folder)
    rng = np.random.default_rng(0)
    angle = 2 * np.pi * labels / 3 + rng.normal(0, 0.05, len(files))
    for c in range(3):  # the last image of each class sits nearer the next class
        angle[np.flatnonzero(labels == c)[-1]] = 2 * np.pi * (c + 0.62) / 3
    features = np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
    path = root / "features.npz"
    np.savez(path, features=features, labels=labels, index=np.arange(len(files)), keys=np.asarray(files, dtype=str))
    return folder, path

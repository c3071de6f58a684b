"""Scanning an image folder, with or without class subfolders.

Labels are optional (this is self-supervised): when every image sits in a first-level subfolder, the
subfolder names are the classes and label metrics are reported; otherwise the folder is scanned
recursively and the run is unlabelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .decode import IMAGE_EXTENSIONS


def scan_image_folder(root: str | Path) -> tuple[list[str], np.ndarray | None, list[str]]:
    """Relative paths (sorted, so indices are stable), labels or None, and class names."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data.root={root} is not a folder")
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {root}")
    depths = {f.count("/") for f in files}
    if depths != {1}:
        return files, None, []
    classes = sorted({f.split("/", 1)[0] for f in files})
    class_index = {name: i for i, name in enumerate(classes)}
    labels = np.array([class_index[f.split("/", 1)[0]] for f in files], dtype=np.int64)
    return files, labels, classes

"""Scanning an image folder, with or without class subfolders.

Labels are optional (this is self-supervised): when every image sits in a first-level subfolder, the
subfolder names are the classes and label metrics are reported; otherwise the folder is scanned
recursively and the run is unlabelled. ``folder_format`` reads the headers of a sample of the files to
choose the size and channels a folder is trained at when ``data.image_size`` does not say.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .decode import GRAYSCALE_MODES, IMAGE_EXTENSIONS


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


FORMAT_SAMPLE = 64  # files whose headers decide a folder's default size and channels


@dataclass(frozen=True)
class FolderFormat:
    """What a folder is trained at: the image side, the channels, and why (a sentence for the log)."""

    image_size: int
    channels: int
    reason: str


def spread_sample(files: list[str], n: int = FORMAT_SAMPLE) -> list[str]:
    """Up to ``n`` files spread evenly over the sorted list (first and last included), so every class
    subfolder of a labelled folder is looked at, not only the first."""
    if len(files) <= n:
        return list(files)
    return [files[i] for i in np.linspace(0, len(files) - 1, n).round().astype(int)]


def folder_format(root: str | Path, files: list[str], image_size: int | None, fallback_size: int) -> FolderFormat:
    """The native size of a folder's images when all sampled ones share one (the shorter side, if not square),
    else ``fallback_size``; an explicit ``image_size`` wins. One channel when every sampled image is grayscale.

    Only file headers are read (``Image.open`` decodes nothing), so this costs milliseconds on any folder.
    """
    sample = spread_sample(files)
    sizes, modes, unreadable = Counter(), Counter(), 0
    for rel in sample:
        try:
            with Image.open(Path(root) / rel) as img:
                sizes[img.size] += 1
                modes[img.mode] += 1
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            unreadable += 1
    seen = f"{sum(sizes.values())} of {len(files):,} files sampled"
    if unreadable:
        seen += f", {unreadable} unreadable"
    if image_size is not None:
        size, why = image_size, f"data.image_size={image_size}"
    elif len(sizes) == 1:
        (width, height), = sizes
        size = min(width, height)
        why = (f"native: every sampled image is {width}x{height}" +
               ("" if width == height else f" (the shorter side, {size})") + "; set data.image_size to change it")
    elif not sizes:
        size, why = fallback_size, f"{fallback_size}: no sampled file could be read"
    else:
        common = ", ".join(f"{w}x{h}" for (w, h), _ in sizes.most_common(3)) + (", ..." if len(sizes) > 3 else "")
        size = fallback_size
        why = (f"{fallback_size}: the sampled images have {len(sizes)} sizes ({common}), so every one is resized; "
               "set data.image_size to choose another")
    gray = bool(modes) and set(modes) <= GRAYSCALE_MODES
    kinds = ", ".join(sorted(modes)) or "none"
    channels_why = (f"1 channel: every sampled image is grayscale (mode {kinds})" if gray
                    else f"3 channels (RGB; sampled modes {kinds})")
    return FolderFormat(size, 1 if gray else 3, f"{size} px ({why}); {channels_why}; {seen}")

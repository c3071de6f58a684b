"""Labels out of the annotation: a CSV, a JSON file, and an image-folder tree for training on them.

CSV and JSON have one row per image: key, dataset index, label ('' when it has none), source (``cluster``:
its cluster's name; ``manual``: labelled one by one; ``unsure``; '' when unlabelled) and current cluster.

The image-folder tree has one subfolder per label holding that label's images (unsure and unlabelled ones
are left out): symbolic links to the dataset's files, or copies with ``copy=True``; an in-memory dataset
(Fashion-MNIST, MNIST, CIFAR-10) has no files, so its images are written as PNG. The tree reads back as
``data.name=imagefolder data.root=DIR`` and as torchvision's ``ImageFolder(DIR)``. It is built in a
temporary sibling folder and renamed into place, so a crash never leaves half a tree under DIR.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

from PIL import Image

from ..atomic import atomic_open, write_json_atomic
from ..data import FolderSource, ImageSource
from .store import AnnotationStore

CSV_COLUMNS = ("key", "label", "source", "cluster", "index")


def write_labels_csv(store: AnnotationStore, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as f:
        out = csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        out.writeheader()
        out.writerows(store.labels())
    return path


def labels_document(store: AnnotationStore) -> dict:
    """Everything the JSON export holds: where the clusters came from, progress, clusters, every image."""
    return {"annotates": store.meta("info", {}).get("description"),
            "clusters_from": store.meta("info", {}).get("origin"), "progress": store.progress(),
            "clusters": [{k: c[k] for k in ("id", "name", "size", "labelled", "unsure")} for c in store.clusters()],
            "labels": store.labels()}


def write_labels_json(store: AnnotationStore, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, labels_document(store))
    return path


def folder_name(label: str) -> str:
    """A label as one safe path component: no separators, no leading dot, nothing empty."""
    name = re.sub(r"[/\\\x00-\x1f]", "_", label).strip()
    return "_" + name if not name or name.startswith(".") else name


def _file_name(key: str, suffix: str = "") -> str:
    return key.replace("\\", "__").replace("/", "__") + suffix


def _copy(src: Path, dst: Path) -> None:
    with open(src, "rb") as f, atomic_open(dst) as out:
        shutil.copyfileobj(f, out)


def _write_png(image, dst: Path) -> None:
    pixels = image.permute(1, 2, 0).contiguous().numpy()
    with atomic_open(dst) as f:
        Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(f, format="PNG")


def write_image_folder(store: AnnotationStore, source: ImageSource, out_dir: str | Path, copy: bool = False) -> dict:
    """DIR/<label>/<key> for every labelled image; returns {label: folder name} and counts."""
    out_dir = Path(out_dir).resolve()
    rows = [r for r in store.labels() if r["label"]]
    folders: dict[str, str] = {}
    for label in sorted({r["label"] for r in rows}):
        name, n = folder_name(label), 2
        while name in folders.values():
            name, n = f"{folder_name(label)} ({n})", n + 1
        folders[label] = name
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name in folders.values():
            (tmp / name).mkdir(parents=True)
        if isinstance(source, FolderSource):
            for r in rows:
                src = (source.root / r["key"]).resolve()
                dst = tmp / folders[r["label"]] / _file_name(r["key"])
                _copy(src, dst) if copy else os.symlink(src, dst)
        else:  # in memory: no files to link to
            row_of = {r["index"]: r for r in rows}
            for images, idx in source.batches(sorted(row_of), 256, train=False, seed=0, workers=0):
                for image, i in zip(images, idx.tolist()):
                    _write_png(image, tmp / folders[row_of[i]["label"]] / _file_name(row_of[i]["key"], ".png"))
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"folder": str(out_dir), "images": len(rows), "labels": folders,
            "mode": "copies" if copy or not isinstance(source, FolderSource) else "symlinks"}


def export_all(store: AnnotationStore, source: ImageSource, folder: str | Path, copy: bool = False) -> dict:
    """labels.csv, labels.json and imagefolder/ under ``folder`` (the page's Export button)."""
    folder = Path(folder)
    return {"csv": str(write_labels_csv(store, folder / "labels.csv")),
            "json": str(write_labels_json(store, folder / "labels.json")),
            "imagefolder": write_image_folder(store, source, folder / "imagefolder", copy)}

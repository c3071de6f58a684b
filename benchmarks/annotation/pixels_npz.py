"""Raw pixels of one split as a features file (launch/extract.py's .npz), so launch/cluster.py clusters them
like any features: ``--data`` of launch/cluster.py reads train + test together, the benchmark wants one split.

    python benchmarks/annotation/pixels_npz.py fashion_mnist:test runs/annotation/fmnist_pixels_test.npz
    python benchmarks/annotation/pixels_npz.py imagefolder:data/digits runs/annotation/digits_pixels.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from deepcluster.atomic import atomic_open


def split_pixels(spec: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, pixels) float32 in [0, 1], labels and keys of ``fashion_mnist:SPLIT`` or ``imagefolder:ROOT``."""
    kind, _, arg = spec.partition(":")
    if kind == "fashion_mnist":
        from deepcluster.data.idx import DEBIAN_FASHION_MNIST, load_idx_split

        split = arg or "test"
        images, labels = load_idx_split(DEBIAN_FASHION_MNIST, "train" if split == "val" else split)
        if split == "val":  # the engine's data.split=val: the last 10,000 train images
            images, labels = images[-10_000:], labels[-10_000:]
        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        return x, labels.astype(np.int64), np.array([str(i) for i in range(len(x))])
    if kind == "imagefolder":
        from deepcluster.data.imagefolder import scan_image_folder
        from deepcluster.heads.inputs import folder_pixels

        x, labels = folder_pixels(arg)
        files = scan_image_folder(arg)[0]
        if len(files) != len(x):
            raise ValueError(f"{arg}: {len(files) - len(x)} undecodable image(s); keys would not line up")
        return x, labels.astype(np.int64), np.array([str(f) for f in files])
    raise ValueError(f"unknown source {spec!r}; use fashion_mnist:SPLIT or imagefolder:ROOT")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="fashion_mnist:test (or :train, :val = its last 10,000) or imagefolder:ROOT")
    p.add_argument("out", help="output .npz")
    args = p.parse_args(argv)
    x, labels, keys = split_pixels(args.source)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out, "wb") as f:
        np.savez(f, features=x, labels=labels, index=np.arange(len(x)), keys=keys)
    print(f"wrote {args.out}: {x.shape[0]} x {x.shape[1]} raw pixels of {args.source}")


if __name__ == "__main__":
    main()

"""Write a dataset as WebDataset tar shards, for streaming with data.name=webdataset.

    python launch/make_shards.py --data fashion_mnist --out shards/fmnist --shard-size 5000
    python launch/make_shards.py --data imagefolder --data-root /data/images --out shards/images

Keys are the dataset index, zero-padded, so the engine's global index (sorted keys) equals it. Image
files are stored with their original bytes and extension; in-memory datasets are written as PNG.
Labels, when the dataset has them, go to a ``cls`` member. Prints the data.urls value to train with.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path


import webdataset as wds
from PIL import Image

from deepcluster.config import DATASETS, DataConfig
from deepcluster.data import FolderSource, build_source
from deepcluster.runtime import progress


def encoded_samples(source):
    """(suffix, bytes) of every sample: original file bytes for folders, PNG for in-memory tensors."""
    if isinstance(source, FolderSource):
        for key in source.keys:
            path = source.root / key
            yield path.suffix.lower().lstrip(".").replace("jpeg", "jpg"), path.read_bytes()
        return
    for images, _ in source.batches(range(len(source)), 1024, train=False, seed=0, workers=0):
        for image in images:
            array = image.permute(1, 2, 0).squeeze(-1).numpy()
            buffer = io.BytesIO()
            Image.fromarray(array).save(buffer, format="PNG")
            yield "png", buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, choices=[d for d in DATASETS if d != "webdataset"])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--split", default="all", choices=("all", "train", "test"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N samples")
    parser.add_argument("--out", required=True, help="folder for the shards")
    parser.add_argument("--shard-size", type=int, default=10000, help="samples per shard (>= ranks x workers shards)")
    args = parser.parse_args(argv)
    source = build_source(DataConfig(name=args.data, root=args.data_root, split=args.split, limit=args.limit))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width = max(9, len(str(len(source))))
    with wds.ShardWriter(str(out / "shard-%06d.tar"), maxcount=args.shard_size, verbose=0) as writer:
        for index, (suffix, payload) in enumerate(progress(encoded_samples(source), total=len(source), desc="shards")):
            sample = {"__key__": f"{index:0{width}d}", suffix: payload}
            if source.labels is not None:
                sample["cls"] = int(source.labels[index])
            writer.write(sample)
        count = writer.shard  # index of the next shard it would open = shards written
    pattern = f"{out}/shard-{{000000..{count - 1:06d}}}.tar"
    print(f"wrote {len(source)} samples in {count} shard(s); train with data.name=webdataset data.urls='{pattern}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Features of any layer of a pretrained network, for any supported dataset, into a .npz file.

The file holds ``features`` (N, d) float32, ``labels`` (N,) int64 when the data has labels, ``index`` (N,)
int64 (the sample's position in the dataset) and ``keys`` (N,) str (relative path, or the index as text);
undecodable images are left out, which is why index and keys are kept. It is the --features input of
launch/cluster.py. Spatial layers are average-pooled as the linear probes pool them.

    python launch/extract.py --checkpoint runs/fmnist --out feats/fmnist.npz                 # penultimate, train+test
    python launch/extract.py --checkpoint exports/fmnist --layer conv3 --split test --out feats/conv3_test.npz
    torchrun --standalone --nproc_per_node=2 launch/extract.py --checkpoint runs/fmnist --out feats/fmnist.npz
    python launch/extract.py --checkpoint runs/folder_run --data imagefolder --data-root /data/new_images --out f.npz
"""

from __future__ import annotations

import argparse
import logging
import sys


from deepcluster import dist
from deepcluster.config import SPLITS, ConfigError
from deepcluster.models.taps import DEFAULT_TARGET_DIMS
from deepcluster.evaluation.frozen_features import extract_layer, save_features_file
from deepcluster.pretrained import build_checked_source, data_config, load_pretrained


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint file, run directory or export directory")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--layer", default="penultimate", help="penultimate (the clustered features, default), or "
                   "compact conv1-3, alexnet conv1-5, resnet layer1-4")
    p.add_argument("--data", default=None, help="fashion_mnist, mnist, cifar10 or imagefolder (default: training data)")
    p.add_argument("--data-root", default=None, help="dataset folder (needed for mnist, cifar10, imagefolder)")
    p.add_argument("--split", default="all", choices=SPLITS,
                   help="torchvision-style sets only; fit / val = the train split less / only its last 10,000")
    p.add_argument("--limit", type=int, default=None, help="first N samples only")
    p.add_argument("--target-dims", type=int, default=DEFAULT_TARGET_DIMS,
                   help="pool conv layers to about this many dims")
    p.add_argument("--batch-size", type=int, default=256, help="per process")
    p.add_argument("--workers", type=int, default=2, help="loader processes for image folders")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    device = dist.init_distributed()
    try:
        pre = load_pretrained(args.checkpoint)
        name = args.data or pre.config.data.name
        root = args.data_root if args.data else (args.data_root or pre.config.data.root)
        source = build_checked_source(pre, data_config(pre, name, root, args.split, args.limit))
        features, valid = extract_layer(pre, source, args.layer, device, args.batch_size, args.workers,
                                        args.target_dims)
        if dist.is_main():
            path = save_features_file(args.out, features, valid, source)
            print(f"wrote {path}: {int(valid.sum())} samples x {features.shape[1]} dims of layer {args.layer} "
                  f"({name}, split {args.split}; {int((~valid).sum())} undecodable left out)")
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        dist.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

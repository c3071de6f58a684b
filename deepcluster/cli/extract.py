"""Features of any layer of a pretrained network, for any supported dataset, into a .npz file.

The file holds ``features`` (N, d) float32, ``labels`` (N,) int64 when the data has labels, ``index`` (N,)
int64 (the sample's position in the dataset) and ``keys`` (N,) str (relative path, or the index as text);
undecodable images are left out, which is why index and keys are kept. It is the --features input of
launch/cluster.py. A spatial (conv) layer is average-pooled to at most --max-dims dimensions, 2,048 by
default (conv3 of the compact net at 28 px: 128 x 4 x 4 rather than 128 x 7 x 7 = 6,272, which is a 1.76 GB
file for Fashion-MNIST's 70,000 images and minutes of PCA-whitening); --max-dims 0 keeps the whole layer.

    python launch/extract.py --checkpoint runs/fmnist --out feats/fmnist.npz                 # penultimate, train+test
    python launch/extract.py --checkpoint exports/fmnist --layer conv3 --split test --out feats/conv3_test.npz
    torchrun --standalone --nproc_per_node=2 launch/extract.py --checkpoint runs/fmnist --out feats/fmnist.npz
    python launch/extract.py --checkpoint runs/folder_run --data imagefolder --data-root /data/new_images --out f.npz
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from deepcluster import dist
from deepcluster.cli.ticking import ticking
from deepcluster.config import SPLITS, ConfigError
from deepcluster.evaluation.frozen_features import (DEFAULT_MAX_DIMS, describe_layer, extract_taps, layer_taps,
                                                    save_features_file)
from deepcluster.pretrained import build_checked_source, data_config, load_pretrained

log = logging.getLogger("deepcluster.extract")


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
    pooling = p.add_mutually_exclusive_group()
    pooling.add_argument("--max-dims", type=int, default=DEFAULT_MAX_DIMS, metavar="N",
                         help=f"average-pool a conv layer to the largest s x s grid with channels x s x s <= N "
                         f"(default {DEFAULT_MAX_DIMS:,}: compact conv3 at 28 px = 128 x 4 x 4); ask for more with a "
                         "larger N, or 0 for the whole layer (compact conv3: 6,272 dims). penultimate is never pooled")
    pooling.add_argument("--target-dims", type=int, default=None, metavar="N",
                         help="instead pool to the grid whose size is closest to N, as launch/eval_linear.py pools "
                         "(may exceed N)")
    p.add_argument("--batch-size", type=int, default=256, help="per process")
    p.add_argument("--workers", type=int, default=2, help="loader processes for image folders")
    return p.parse_args(argv)


def pooling_note(args: argparse.Namespace, taps) -> str:
    """Which pooling rule gave the width, and how to get another one."""
    shape = taps.shapes[args.layer]
    if len(shape) == 1:
        return ""
    if args.target_dims is not None:
        return f" (--target-dims {args.target_dims}: the grid closest to it)"
    full = shape[0] * shape[1] * shape[2]
    default = ", the default" if args.max_dims == DEFAULT_MAX_DIMS else ""
    if args.max_dims == 0 or taps.dims[args.layer] == full:
        return f" (--max-dims {args.max_dims}{default})"
    return f" (--max-dims {args.max_dims}{default}; raise it for more, 0 keeps all {full:,})"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    device = dist.init_distributed()
    try:
        if args.max_dims < 0:
            raise ValueError(f"--max-dims {args.max_dims}: give a positive number of dims, or 0 for no pooling")
        pre = load_pretrained(args.checkpoint)
        name = args.data or pre.config.data.name
        root = args.data_root if args.data else (args.data_root or pre.config.data.root)
        source = build_checked_source(pre, data_config(pre, name, root, args.split, args.limit))
        taps = layer_taps(pre, args.layer, args.target_dims, args.max_dims)
        dims = taps.dims[args.layer]
        if dist.is_main():
            log.info("extract: %s%s; %s split %s, %s images at %d px -> %s of float32",
                     describe_layer(taps, args.layer), pooling_note(args, taps), name, args.split,
                     f"{len(source):,}", source.image_size, f"{4 * dims * len(source) / 2**20:,.0f} MB")
        start = time.perf_counter()
        # on a terminal the extraction draws its own bar per batch; into a log file a clock says it is alive
        with ticking(f"extract {args.layer}", dist.is_main() and not sys.stderr.isatty()):
            features, valid = extract_taps(taps, args.layer, source, device, args.batch_size, args.workers)
        if dist.is_main():
            log.info("extracted in %.1f s", time.perf_counter() - start)
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

"""Supervised reference: the same network as DeepCluster's, trained with the true labels of the train split.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/eval/supervised.py --config configs/fashion_mnist.yaml \
        --epochs 5 --out runs/eval_bench/supervised.pt

Same architecture (Sobel + compact net + MLP), optimiser (SGD 0.05, momentum 0.9, wd 1e-5, batch 256) and
augmentation (random-resized-crop + flip) as the DeepCluster recipe; only the targets differ (the 10
classes instead of k-means pseudo-labels), and only the 60,000 train images are used. The top layer has one
output per class. The result is a checkpoint-shaped file for launch/eval_linear.py: an upper reference for
what the same backbone can reach.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepcluster.seeds import Purpose, stream_seed  # noqa: E402
from deepcluster.config import load_config  # noqa: E402
from deepcluster.data import build_source, default_crop_min_scale  # noqa: E402
from deepcluster.models import build_network  # noqa: E402
from deepcluster.pretrained import make_checkpoint  # noqa: E402
from deepcluster.runtime import select_runtime  # noqa: E402
from deepcluster.train.epoch import train_one_epoch  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="the DeepCluster recipe whose network is trained")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. data.limit=600")
    args = p.parse_args()
    cfg = load_config(args.config, ["run_dir=unused", "data.split=train", *args.overrides])
    source = build_source(cfg.data)
    labels = np.asarray(source.labels, dtype=np.int64)
    n_classes = int(labels.max()) + 1
    torch.manual_seed(stream_seed(cfg.seed, Purpose.INIT))
    net = build_network(cfg.model, source.channels, source.image_size, n_classes)
    runtime = select_runtime(cfg.train, torch.device("cpu"))
    optimizer = torch.optim.SGD(net.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum,
                                weight_decay=cfg.train.weight_decay)
    crop = default_crop_min_scale(cfg.data, source.image_size)
    start = time.perf_counter()
    loss = float("nan")
    for epoch in range(args.epochs):
        order = np.random.default_rng([cfg.seed, epoch, 99]).permutation(len(source))
        loss, _ = train_one_epoch(net, source, order, labels, optimizer, runtime, cfg.train.batch_size, 0,
                                  seed=stream_seed(cfg.seed, Purpose.AUGMENT, epoch), crop_min_scale=crop,
                                  flip=cfg.data.flip)
        print(f"epoch {epoch}: train loss {loss:.4f} ({time.perf_counter() - start:.0f}s)", flush=True)
    metrics = {"supervised_epochs": args.epochs, "train_loss": loss, "seconds": time.perf_counter() - start}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_checkpoint(net.eval(), cfg, epoch=args.epochs - 1, metrics=metrics), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

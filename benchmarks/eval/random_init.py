"""Write the random-init reference: the exact initial weights of a DeepCluster run, as a checkpoint.

    python benchmarks/eval/random_init.py --config configs/fashion_mnist.yaml --out runs/eval_bench/random_init.pt

Seeded as launch/train.py seeds its network (seed, epoch 0, stream 0), so the probe of this file is the
probe of epoch "-1" of the pretrained run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from deepcluster.seeds import Purpose, stream_seed  # noqa: E402
from deepcluster.config import load_config  # noqa: E402
from deepcluster.data import build_source  # noqa: E402
from deepcluster.models import build_network  # noqa: E402
from deepcluster.pretrained import make_checkpoint  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    cfg = load_config(args.config, ["run_dir=unused", *args.overrides])
    source = build_source(cfg.data)
    torch.manual_seed(stream_seed(cfg.seed, Purpose.INIT))
    net = build_network(cfg.model, source.channels, source.image_size, cfg.cluster.k)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_checkpoint(net, cfg, epoch=-1, metrics={"note": "random init"}), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The whole recipe in one command: DeepCluster pretraining → frozen features → clustering head → scores.

    python launch/recipe.py --out runs/recipe                        # Fashion-MNIST 70k, configs/fashion_mnist.yaml
    python launch/recipe.py --out runs/recipe_digits data.name=imagefolder data.root=data/digits data.image_size=28
    python launch/recipe.py --out runs/recipe_km --head kmeans head.max_iter=300     # head.* go to the head

Each stage is the project's own command, run as a subprocess and skipped when its output is newer than its
input, so an interrupted recipe resumes where it stopped (pretraining resumes from its newest checkpoint):
  1. launch/train.py (torchrun with --nproc processes)  → OUT/pretrain/
  2. launch/extract.py --layer LAYER                     → OUT/features_LAYER.npz
  3. launch/cluster.py --method HEAD --normalise NORM    → OUT/HEAD/results.json (one run per seed)
OUT/recipe_HEAD.json collects the settings, each stage's wall time and the head's scores. The defaults of
--layer, --normalise and --head are the choices BENCHMARKS.md §5 made on Fashion-MNIST (without labels
inside any run); key=value arguments override the training config exactly as for launch/train.py, and
head.NAME=VALUE ones set the head's hyperparameters exactly as for launch/cluster.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from deepcluster.atomic import write_json_atomic
from deepcluster.config import ConfigError, load_config, split_section
from deepcluster.heads import HEADS
from deepcluster.heads.normalise import parse_spec
from deepcluster.models.taps import available_layers

DEFAULTS = {"layer": "conv3", "normalise": "whiten:64", "head": "spectral"}
# Spectral clustering on the global 10-NN graph of the whitened conv3 features, with an equipartition in place
# of plain k-means on the embedding (the classes are assumed to be of about equal size): BENCHMARKS.md §5
# compares it with SpectralNet, k-means, other layers and the same head on a random network and raw pixels.
DEFAULT_HEAD_SET = ["head.n_neighbors=10", "head.assign=balanced"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (pretraining run, features, head results)")
    p.add_argument("--config", default="configs/fashion_mnist.yaml", help="training recipe")
    p.add_argument("--nproc", type=int, default=2, help="training processes (torchrun); 1 runs plain python")
    p.add_argument("--layer", default=DEFAULTS["layer"], help="layer whose features are clustered")
    p.add_argument("--target-dims", type=int, default=2048, help="average-pool a conv layer to about this many "
                   "dims (conv2 of the compact net: 64 x 6 x 6 = 2,304)")
    p.add_argument("--normalise", default=DEFAULTS["normalise"], help="none, l2 or whiten:D before the head")
    p.add_argument("--head", default=DEFAULTS["head"], choices=sorted(HEADS), help="clustering head")
    p.add_argument("--k", type=int, default=None, help="clusters for the head (default: the number of classes, "
                   "10 for Fashion-MNIST; needed for unlabelled data)")
    p.add_argument("--seeds", type=int, default=5, help="head runs with seeds 0..S-1 (mean/median reported)")
    p.add_argument("overrides", nargs="*", help="training config overrides, e.g. train.epochs=3, and head "
                   f"hyperparameters, e.g. head.max_iter=300 (with the default head these come after, and "
                   f"override, {' '.join(DEFAULT_HEAD_SET)})")
    args = p.parse_args(argv)
    head_set = [item for item in args.overrides if item.startswith("head.")]
    args.overrides = [item for item in args.overrides if not item.startswith("head.")]
    args.head_set = [*(DEFAULT_HEAD_SET if args.head == DEFAULTS["head"] else []), *head_set]
    return args


def up_to_date(output: Path, inputs: list[Path]) -> bool:
    """``output`` exists and is newer than every input (a re-trained network invalidates its features)."""
    return output.exists() and all(output.stat().st_mtime >= p.stat().st_mtime for p in inputs if p.exists())


def stage(name: str, cmd: list[str], output: Path | None, inputs: list[Path], times: dict) -> None:
    """Run one stage unless its output is up to date; its wall time goes to ``times``."""
    if output is not None and up_to_date(output, inputs):
        print(f"== {name}: {output} is up to date, skipped", flush=True)
        times[name] = None
        return
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    times[name] = round(time.perf_counter() - t0, 1)


def newest_checkpoint(run_dir: Path) -> Path:
    from deepcluster.train.checkpoint import list_checkpoints

    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise ValueError(f"pretraining wrote no checkpoint under {run_dir}/checkpoints")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:  # every setting is checked before the first stage starts
        cfg = load_config(args.config, [*args.overrides, f"run_dir={Path(args.out) / 'pretrain'}"])
        parse_spec(args.normalise)
        split_section(args.head_set, "head")  # malformed head.* items fail here, not after pretraining
        if args.layer not in available_layers(cfg.model.arch):
            raise ConfigError(f"--layer {args.layer} does not exist in model.arch={cfg.model.arch}; choose from "
                              f"{', '.join(available_layers(cfg.model.arch))}")
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    train = ["-m", "deepcluster.cli.train", "--config", args.config, *args.overrides, f"run_dir={cfg.run_dir}"]
    launcher = [py]
    if args.nproc > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}"]
    features = out / f"features_{args.layer}.npz"
    head_dir = out / args.head
    times: dict[str, float | None] = {}
    try:
        # always run: it resumes an unfinished run, and a finished one only re-scores its features
        stage("pretrain", [*launcher, *train], None, [], times)
        checkpoint = newest_checkpoint(Path(cfg.run_dir))
        stage("extract", [py, "-m", "deepcluster.cli.extract", "--checkpoint", str(checkpoint), "--layer",
                          args.layer, "--target-dims", str(args.target_dims), "--out", str(features),
                          *(["--limit", str(cfg.data.limit)] if cfg.data.limit else [])], features, [checkpoint], times)
        k = args.k or n_classes(features)
        stage("head", [py, "-m", "deepcluster.cli.cluster", "--method", args.head, "--data", cfg.data.name,
                       "--features", str(features), "--k", str(k), "--seeds", str(args.seeds), "--normalise",
                       args.normalise, "--out", str(head_dir), *args.head_set],
              head_dir / "results.json", [features], times)
    except subprocess.CalledProcessError as err:
        print(f"error: stage command failed with exit code {err.returncode}: {' '.join(err.cmd)}", file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results = json.loads((head_dir / "results.json").read_text())
    summary = {"config": args.config, "overrides": args.overrides, "layer": args.layer, "normalise": args.normalise,
               "head": args.head, "head_set": args.head_set, "k": k, "seeds": args.seeds, "stage_seconds": times,
               **{m: results[m] for m in ("acc", "nmi", "ari") if m in results}}
    summary_file = out / f"recipe_{args.head}.json"
    write_json_atomic(summary_file, summary)
    print(f"\nrecipe on {cfg.data.name}: {args.layer} features, {args.normalise}, {args.head} (k={k}), "
          f"{args.seeds} seeds")
    for m in ("acc", "nmi", "ari"):
        if m in results:
            r = results[m]
            print(f"  {m.upper():3s} mean {r['mean']:.3f} ± {r['std']:.3f}  median {r['median']:.3f}")
    print(f"  stage wall times (s): {times}\nwrote {summary_file}")
    return 0


def n_classes(features: Path) -> int:
    import numpy as np

    with np.load(features, allow_pickle=False) as f:
        if "labels" not in f:
            raise ValueError(f"{features} has no labels, so the number of clusters is unknown; pass --k")
        return int(len(np.unique(f["labels"])))


if __name__ == "__main__":
    sys.exit(main())

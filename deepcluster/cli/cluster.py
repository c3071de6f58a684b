"""Run a clustering head (kmeans, ae_kmeans, dec, vade, spectralnet, spectral) on frozen features, over seeds.

Inputs: raw pixels of a dataset (default), a features file from launch/extract.py (--features), or a
checkpoint / exported backbone (--checkpoint). Labels only score the result: they are never used to train,
stop early or choose a run. Writes OUT/results.json after every seed and prints the summary table. Every
step logs what it does and how large its input is (stderr, with the time), and shows a progress bar
(--no-progress hides them); a step that is one long library call (faiss's PCA, a k-means) shows a
ticking clock.

  # Fashion-MNIST train+test (70,000 images), raw pixels, 5 seeds, single core:
  OMP_NUM_THREADS=1 taskset -c 1 python launch/cluster.py --method dec --data fashion_mnist --k 10 \
      --seeds 5 --out runs/heads/dec --ae-cache runs/heads/ae_cache
  # DeepCluster features:
  python launch/cluster.py --method kmeans --data fashion_mnist --features feats.npz --k 10 --seeds 10 --out runs/km
  # Override hyperparameters (dotted key=value, as for launch/train.py): head.max_iter=2000 head.ae_epochs=30
  # The recipe's head: spectral clustering on the 10-NN graph, equal-size clusters assumed:
  python launch/cluster.py --method spectral --data fashion_mnist --features feats.npz --normalise whiten:64 \
      head.assign=balanced --k 10 --seeds 5 --out runs/spectral
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from deepcluster.atomic import write_json_atomic
from deepcluster.cli.ticking import ticking
from deepcluster.config import ConfigError, split_section
from deepcluster.heads import HEADS, ClusteringFailed, build_head
from deepcluster.heads.autoencoder import AutoencoderFailed
from deepcluster.heads.inputs import load_inputs
from deepcluster.heads.normalise import FeatureNormaliser
from deepcluster.heads.suggest_k import suggest_k
from deepcluster.metrics import score_clustering

METRICS = ("acc", "nmi", "ari")
OWN_PROGRESS = {"ae_kmeans", "dec", "vade", "spectralnet"}  # heads whose fit draws its own bars (head.progress)

log = logging.getLogger("deepcluster.cluster")


def parse_k(value: str) -> int | str:
    """--k: a positive number of clusters, or "auto" (suggested by a Dirichlet-process mixture)."""
    if value == "auto" or (value.isdigit() and int(value) > 0):
        return value if value == "auto" else int(value)
    raise argparse.ArgumentTypeError(f"{value!r} is not a number of clusters; give a positive integer or auto")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, choices=sorted(HEADS), help="clustering head to run")
    p.add_argument("--data", required=True, help="dataset name as the engine's data.name (fashion_mnist, mnist, "
                   "cifar10, imagefolder); for raw pixels and for --checkpoint")
    p.add_argument("--data-root", default=None, help="dataset folder (default for fashion_mnist: Debian's copy)")
    p.add_argument("--features", default=None, help=".npz from launch/extract.py: cluster these features")
    p.add_argument("--checkpoint", default=None, help="training checkpoint or exported backbone: cluster its features")
    p.add_argument("--k", type=parse_k, required=True, help="number of clusters (10 for (Fashion-)MNIST), or auto: "
                   "the components a Dirichlet-process Gaussian mixture keeps on the normalised input "
                   "(deepcluster.heads.suggest_k, seeded by --first-seed; recorded in results.json)")
    p.add_argument("--seeds", type=int, default=1, help="number of runs, with seeds first-seed .. first-seed+S-1")
    p.add_argument("--first-seed", type=int, default=0, help="seed of the first run")
    p.add_argument("--out", required=True, help="output folder for results.json (and saved heads)")
    p.add_argument("--limit", type=int, default=None,
                   help="cluster a fixed random subset of this many samples; with --checkpoint, the first N "
                   "samples (the engine's data.limit, so that only those are extracted: shuffle an image "
                   "folder's files first, or extract everything with launch/extract.py and use --features)")
    p.add_argument("--ae-cache", default=None, help="folder to cache pretrained autoencoders (keyed by data, "
                   "settings and seed), shared by ae_kmeans/dec/vade/spectralnet; default OUT/ae_cache")
    p.add_argument("head", nargs="*", metavar="head.NAME=VALUE",
                   help="head hyperparameters, e.g. head.max_iter=2000 head.ae_epochs=30 (values read as YAML)")
    p.add_argument("--normalise", default="none", help="features before the head: none (default), l2, or "
                   "whiten:D (PCA-whiten to D dims then L2, as DeepCluster's clustering step)")
    p.add_argument("--save-heads", action="store_true", help="also save each fitted head to OUT/seed-S/")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p.parse_args(argv)


def summarise(runs: list[dict]) -> dict:
    summary = {}
    for metric in METRICS:
        values = [r[metric] for r in runs if r.get(metric) is not None]
        if values:
            summary[metric] = {"median": statistics.median(values), "mean": statistics.fmean(values),
                               "std": statistics.pstdev(values) if len(values) > 1 else 0.0}
    return summary


def print_table(method: str, runs: list[dict], summary: dict) -> None:
    print(f"\n{method}: {len(runs)} run(s)")
    print(f"{'seed':>6} {'acc':>7} {'nmi':>7} {'ari':>7} {'seconds':>9}")
    for r in runs:
        cells = " ".join(f"{r[m]:7.4f}" if r.get(m) is not None else f"{'-':>7}" for m in METRICS)
        note = "  failed (results.json says why)" if "failed" in r else ""
        print(f"{r['seed']:>6} {cells} {r['seconds']:9.1f}{note}")
    for stat in ("median", "mean", "std"):
        cells = " ".join(f"{summary[m][stat]:7.4f}" if m in summary else f"{'-':>7}" for m in METRICS)
        print(f"{stat:>6} {cells}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with logging_redirect_tqdm():  # log lines print above the progress bars instead of through them
        run_heads(args)


def run_heads(args: argparse.Namespace) -> None:
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        import faiss
        import torch

        torch.set_num_threads(int(threads))
        faiss.omp_set_num_threads(int(threads))
    try:  # refuse a misspelt or impossible hyperparameter before loading anything
        overrides, rest = split_section(args.head, "head")
        if rest:
            raise ConfigError(f"{rest[0]!r}: hyperparameters are given as head.<name>=<value> (e.g. head.max_iter=200)")
        build_head(args.method, 2 if args.k == "auto" else args.k, args.first_seed, **overrides)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"error: {args.method} hyperparameters: {err}") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    normaliser = FeatureNormaliser(args.normalise)  # a bad spec fails here, before any loading
    progress = not args.no_progress
    # an extraction from --checkpoint draws its bar on a terminal only; into a log file a clock says it is alive
    with ticking(f"features of {args.checkpoint}", progress and bool(args.checkpoint) and not sys.stderr.isatty()):
        x, labels, source = load_inputs(args.data, args.data_root, args.features, args.checkpoint, args.limit,
                                        progress)
    with ticking(f"{args.normalise} (faiss PCA of {x.shape[1]:,}-d features)",
                 progress and isinstance(normaliser.kind, int)):
        x = normaliser.fit_transform(x)
    suggestion = None
    if args.k == "auto":
        with ticking("--k auto (Dirichlet-process mixture)", progress):
            suggestion = suggest_k(x, seed=args.first_seed)
        args.k = suggestion.k
        print(f"--k auto: k={suggestion.k} ({suggestion.rule} >= {suggestion.threshold:.0%} of "
              f"{suggestion.n_fitted:,} sampled points, {suggestion.dim}-d, of max_k={suggestion.max_k}; "
              f"{suggestion.seconds:.1f} s)")
    if labels is None:
        print(f"warning: {source} has no labels; runs are not scored", file=sys.stderr)
    print(f"{args.method} on {source} (normalised: {args.normalise}): {x.shape[0]} samples x {x.shape[1]} dims, "
          f"k={args.k}")
    ae_cache = Path(args.ae_cache) if args.ae_cache else out / "ae_cache"
    results = {"method": args.method, "source": source, "n": int(x.shape[0]), "dim": int(x.shape[1]),
               "k": args.k, "normalise": args.normalise, "overrides": overrides, "threads": threads,
               "argv": sys.argv, "runs": []}
    if suggestion is not None:
        results["k_suggestion"] = suggestion.to_dict()
    for seed in tqdm(range(args.first_seed, args.first_seed + args.seeds), desc=f"{args.method} seeds",
                     disable=args.no_progress):
        head = build_head(args.method, args.k, seed, **overrides).to(args.device)
        head.ae_cache = ae_cache
        head.progress = progress
        log.info("seed %d: fitting %s (k=%d) on %s x %s", seed, args.method, args.k, f"{x.shape[0]:,}",
                 f"{x.shape[1]:,}")
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            with ticking(f"seed {seed}: {args.method} fit", progress and args.method not in OWN_PROGRESS):
                assignments = head.fit(x).predict(x)
        except (ClusteringFailed, FloatingPointError) as err:
            # A failed seed is recorded (label-free test, so no choice by score) and the next one runs.
            # failed_in tells whether the seed's shared autoencoder failed (then every head of the seed does).
            print(f"warning: seed {seed} failed: {err}", file=sys.stderr)
            failed_in = "autoencoder" if isinstance(err, AutoencoderFailed) else "head"
            results["runs"].append({"seed": seed, "failed": str(err), "failed_in": failed_in,
                                    "seconds": time.perf_counter() - start})
            results["failed_seeds"] = [r["seed"] for r in results["runs"] if "failed" in r]
            write_json_atomic(out / "results.json", results)
            continue
        # cpu_seconds: CPU time of this process (= wall time of an uncontended single-thread run).
        run = {"seed": seed, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start}
        if labels is not None:
            run.update(score_clustering(labels, assignments))
        run["cluster_sizes"] = sorted((int(c) for c in np.bincount(assignments, minlength=args.k)), reverse=True)
        used = sum(c > 0 for c in run["cluster_sizes"])
        if used < args.k:  # a degenerate result must not pass silently as a (bad) clustering
            print(f"warning: seed {seed} uses only {used} of k={args.k} clusters (a collapsed run); "
                  f"see cluster_sizes in results.json", file=sys.stderr)
        log.info("seed %d: done in %.1f s%s", seed, run["seconds"], "".join(
            f", {m.upper()} {run[m]:.4f}" for m in METRICS if run.get(m) is not None))
        run.update({k: v for k, v in head.info.items() if isinstance(v, (int, float, str, bool, dict, list))})
        results["runs"].append(run)
        results["params"] = head.params
        results.update(summarise(results["runs"]))
        write_json_atomic(out / "results.json", results)
        if args.save_heads:
            head.save(out / f"seed-{seed}")
            normaliser.save(out / f"seed-{seed}" / "normaliser.npz")
    print_table(args.method, results["runs"], summarise(results["runs"]))
    print(f"wrote {out / 'results.json'}")
    if results.get("failed_seeds") and len(results["failed_seeds"]) == len(results["runs"]):
        raise SystemExit(f"error: every seed failed ({results['runs'][-1]['failed']})")


if __name__ == "__main__":
    main()

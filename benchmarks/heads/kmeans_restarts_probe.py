"""How many k-means optima do an autoencoder's codes have, and how far apart are they in ACC?

Why: ``ae_epochs_probe.py`` showed AE + K-Means jumping between about 0.52 and 0.62 ACC from one epoch to
the next while the reconstruction error fell smoothly. This takes one cached benchmark autoencoder and runs
single-start k-means (faiss, 100 iterations, as the head's) from many seeds, printing each start's objective
(the sum of squared distances, which is all k-means sees) next to its scores. The head keeps the lowest
objective of its 20 starts, so if starts with nearly the same objective score very differently, which
partition the head returns is decided by differences the objective can barely see.

  OMP_NUM_THREADS=1 python benchmarks/heads/kmeans_restarts_probe.py --seed 0 --ae-epochs 300 --starts 200 \\
      --ae-cache runs/heads_sgd300_bf16/ae_cache [--init kmeans++] > seed0_300.jsonl
  python benchmarks/heads/kmeans_restarts_probe.py --summarise seed*.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import faiss
import numpy as np
from sklearn.cluster import KMeans

from deepcluster.heads import build_head
from deepcluster.heads.autoencoder import apply_in_batches
from deepcluster.heads.inputs import raw_pixels
from deepcluster.heads.kmeans import NEAR_TIE, nearest_centroid, size_evenness
from deepcluster.metrics import score_clustering


NEAR = NEAR_TIE * 100  # per cent above the lowest objective: the starts counted as "as good as the best"
GROUP = 20  # starts per simulated n_init=20 run (the head's and DEC-keras's) in the summary


def run(args: argparse.Namespace) -> None:
    x, labels = raw_pixels("fashion_mnist", None)
    # The recipe of BENCHMARKS.md §3's SGD rows; the cache key must match, so nothing is retrained.
    head = build_head("ae_kmeans", 10, seed=args.seed, ae_init="fan_in", ae_optimizer="sgd", ae_lr=1,
                      ae_epochs=args.ae_epochs, ae_precision=args.ae_precision)
    head.ae_cache = args.ae_cache
    ae = head._pretrain_autoencoder(x)
    if not head.info.get("ae_cached"):
        raise SystemExit("that autoencoder is not in --ae-cache; run the benchmark seed first")
    codes = np.ascontiguousarray(apply_in_batches(ae.encoder, head._tensor(x)).numpy())
    for start in range(args.starts):
        if args.init == "kmeans++":
            km = KMeans(10, init="k-means++", n_init=1, random_state=start).fit(codes)
            objective, assigned = float(km.inertia_), km.labels_
        else:
            km = faiss.Kmeans(codes.shape[1], 10, niter=100, nredo=1, seed=start + 1,
                              max_points_per_centroid=10**7, min_points_per_centroid=1, verbose=False)
            km.train(codes)
            objective, assigned = float(km.obj[-1]), nearest_centroid(codes, km.centroids)
        scores = score_clustering(labels, assigned)
        sizes = sorted(np.bincount(assigned, minlength=10).tolist(), reverse=True)
        print(json.dumps({"seed": args.seed, "ae_epochs": args.ae_epochs, "init": args.init, "start": start,
                          "objective": objective, **{k: round(v, 4) for k, v in scores.items()},
                          "sizes": sizes}), flush=True)


def _evenness(run: dict) -> float:
    return size_evenness(np.repeat(np.arange(len(run["sizes"])), run["sizes"]), len(run["sizes"]))


def _picks(group: list[dict]) -> tuple[dict, dict | None]:
    """What an n_init=GROUP k-means returns from these starts: by lowest objective, and by pick="even"."""
    lowest = min(group, key=lambda r: r["objective"])
    if "sizes" not in lowest:
        return lowest, None
    ties = [r for r in group if r["objective"] <= lowest["objective"] * (1 + NEAR_TIE)]
    return lowest, max(ties, key=_evenness)


def mean(runs: list[dict | None]) -> str:
    """Mean ACC / NMI of some runs, '-' where there are none."""
    if not runs or runs[0] is None:
        return "-"
    return f"{np.mean([r['acc'] for r in runs]):.3f} / {np.mean([r['nmi'] for r in runs]):.3f}"


def summarise(logs: list[str]) -> None:
    """One Markdown row per log: the lowest-objective start's scores, the spread of ACC over the starts
    whose objective is within NEAR % of it (k-means cannot prefer any of these by much), and the mean scores
    of best-of-GROUP runs simulated from disjoint groups of starts (what an ``n_init=20`` k-means returns),
    picked by lowest objective and, where the log has cluster sizes, by ``pick="even"``."""
    print(f"| autoencoder | init | starts | lowest objective: ACC / NMI / ARI | starts within {NEAR} % "
          f"| their ACC range | groups of {GROUP} | lowest of each: mean ACC / NMI | even pick: mean ACC / NMI |")
    print("|---|---|---|---|---|---|---|---|---|")
    every_group: list[tuple[dict, dict | None]] = []
    for log in logs:
        rows = [json.loads(line) for line in Path(log).read_text().splitlines() if line.startswith("{")]
        if not rows:
            print(f"| {log}: no runs yet |" + " |" * 8)
            continue
        groups = [_picks(rows[i : i + GROUP]) for i in range(0, len(rows) - GROUP + 1, GROUP)]  # start order
        every_group += groups
        rows.sort(key=lambda r: r["objective"])
        best = rows[0]
        near = [r for r in rows if r["objective"] <= best["objective"] * (1 + NEAR / 100)]

        print(f"| seed {best['seed']}, {best['ae_epochs']} epochs | {best.get('init', 'faiss')} | {len(rows)} "
              f"| {best['acc']:.3f} / {best['nmi']:.3f} / {best['ari']:.3f} | {len(near)} "
              f"| {min(r['acc'] for r in near):.3f}-{max(r['acc'] for r in near):.3f} | {len(groups)} "
              f"| {mean([g[0] for g in groups])} | {mean([g[1] for g in groups])} |")
    both = [g for g in every_group if g[1] is not None]
    if len(logs) > 1 and both:
        gain = [even["acc"] - lowest["acc"] for lowest, even in both]
        print(f"| all {len(logs)} logs, groups with sizes | | | | | | {len(both)} | {mean([g[0] for g in both])} "
              f"| {mean([g[1] for g in both])} (ACC higher in {sum(d > 1e-3 for d in gain)}, "
              f"lower in {sum(d < -1e-3 for d in gain)}) |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, help="the benchmark seed whose autoencoder is cached")
    p.add_argument("--ae-epochs", type=int)
    p.add_argument("--ae-precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--ae-cache")
    p.add_argument("--starts", type=int, default=200)
    p.add_argument("--init", default="faiss", choices=["faiss", "kmeans++"],
                   help="faiss random starts (the head's) or scikit-learn k-means++ (DEC-keras's)")
    p.add_argument("--summarise", nargs="+", metavar="LOG", help="print a table from earlier runs' output")
    args = p.parse_args()
    if args.summarise:
        summarise(args.summarise)
    elif args.seed is None or args.ae_epochs is None or args.ae_cache is None:
        p.error("--seed, --ae-epochs and --ae-cache are needed (or --summarise LOG...)")
    else:
        run(args)


if __name__ == "__main__":
    main()

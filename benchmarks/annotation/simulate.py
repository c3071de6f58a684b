"""A simulated annotator on a clustering's page: correctly labelled images against human actions.

The page (issue 30) shows clusters as grids, largest first, each grid's images by ascending distance to the
centroid (likely mistakes last). The annotator answers from the true labels:

    1. names every cluster by its majority label, largest cluster first: 1 action per cluster, and every
       member then carries that label;
    2. fixes the members whose true label differs, cluster by cluster (largest first), starting from the
       end of each grid (most distant first): 1 action per image fixed.

Labelling one by one costs 1 action per image. Under this cost only the count of fixes matters, not their
order, so the curve is the naming steps followed by a line of slope 1; what the distance order buys is
fewer images looked at: ``wrong_in_farthest_20pct`` is the share of the wrong images that sit in the most
distant fifth of their grid (20 % for a random order), and ``inspected`` counts the images of the fixing
pass looked at until the target is met, beside the same pass with each grid in a seeded random order
(``inspected_random``).

Input: cluster folders from ``launch/cluster.py --save-heads`` (OUT/seed-S holds the head and its
normaliser; OUT/results.json names the features file). Assignments are the head's ``predict`` on the
normalised features, as launch/cluster.py scores them; the distance is squared Euclidean to the own
centroid in the space the head assigns in: the Nyström spectral embedding (unit rows) for ``spectral``,
the normalised features for ``kmeans``.

    python benchmarks/annotation/simulate.py --dataset fmnist --method dc_k10 \\
        --out benchmarks/results/annotation/fmnist_dc_k10.json \\
        --runs runs/annotation/fmnist_dc_k10_seed0/seed-0 runs/annotation/fmnist_dc_k10_seed1/seed-1 ...
    (benchmarks/annotation/run.sh runs every step)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from deepcluster.atomic import write_json_atomic
from deepcluster.heads import load_head
from deepcluster.heads.normalise import FeatureNormaliser

TARGETS = (0.80, 0.90, 0.95)


def page_order(head, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Assignments and squared distances to the own centroid, in the space the head assigns in."""
    assignments = head.predict(x)
    if not hasattr(head, "centroids") or head.centroids is None:
        raise ValueError(f"a {head.method} head has no centroids; the page order needs kmeans or spectral")
    space = head.embed(x) if hasattr(head, "embed") else np.asarray(x, dtype=np.float32)
    distances = ((space - head.centroids[assignments]) ** 2).sum(axis=1)
    return assignments, distances


def simulate(labels: np.ndarray, assignments: np.ndarray, distances: np.ndarray, seed: int = 0) -> dict:
    """The annotator of the module docstring: curve breakpoints and, per target, actions and images inspected."""
    n = len(labels)
    sizes = np.bincount(assignments)
    clusters = [int(c) for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]  # largest first
    rng = np.random.default_rng(seed)
    named, wrong_in_page, wrong_random, in_far_fifth = [0], [], [], 0
    for c in clusters:
        members = np.flatnonzero(assignments == c)
        majority = int(np.bincount(labels[members]).argmax())  # ties: the smaller label
        named.append(named[-1] + int((labels[members] == majority).sum()))
        far_first = members[np.argsort(-distances[members], kind="stable")]
        wrong_in_page.append(labels[far_first] != majority)
        in_far_fifth += int(wrong_in_page[-1][: math.ceil(0.2 * len(members))].sum())
        wrong_random.append(labels[rng.permutation(members)] != majority)
    k, after_naming = len(clusters), named[-1]
    fixes_page = np.cumsum(np.concatenate(wrong_in_page))
    fixes_random = np.cumsum(np.concatenate(wrong_random))
    out = {"n": n, "clusters": k, "correct_after_naming": after_naming,
           "wrong_in_farthest_20pct": in_far_fifth / max(1, int(fixes_page[-1])),
           "curve": {"actions": list(range(k + 1)) + [k + n - after_naming], "correct": named + [n]}}
    for target in TARGETS:
        need = math.ceil(target * n - 1e-9)
        reached = [j for j, c in enumerate(named) if c >= need]
        key = f"{round(target * 100)}"
        if reached:
            out[f"actions_{key}"], out[f"inspected_{key}"], out[f"inspected_random_{key}"] = reached[0], 0, 0
            continue
        missing = need - after_naming
        out[f"actions_{key}"] = k + missing
        out[f"inspected_{key}"] = int(np.searchsorted(fixes_page, missing) + 1)
        out[f"inspected_random_{key}"] = int(np.searchsorted(fixes_random, missing) + 1)
    return out


def one_by_one(n: int) -> dict:
    out = {"n": n, "curve": {"actions": [0, n], "correct": [0, n]}}
    out.update({f"actions_{round(t * 100)}": math.ceil(t * n - 1e-9) for t in TARGETS})
    return out


def features_path(results: dict) -> str:
    argv = results["argv"]
    return argv[argv.index("--features") + 1]


def simulate_run(seed_dir: Path) -> dict:
    """One saved head (OUT/seed-S) on the features its results.json names."""
    start = time.process_time()
    results = json.loads((seed_dir.parent / "results.json").read_text())
    with np.load(features_path(results), allow_pickle=False) as f:
        features, labels = f["features"], f["labels"]
    x = FeatureNormaliser.load(seed_dir / "normaliser.npz").transform(features)
    head = load_head(seed_dir)
    assignments, distances = page_order(head, x)
    seed = int(seed_dir.name.rpartition("-")[2])
    run = next(r for r in results["runs"] if r["seed"] == seed)
    sizes = sorted(np.bincount(assignments, minlength=head.k).tolist(), reverse=True)
    out = {"run": str(seed_dir), "features": features_path(results), "method": results["method"],
           "normalise": results["normalise"], "k": head.k, "seed": seed, "acc": run.get("acc"),
           "sizes_match_results": sizes == run["cluster_sizes"]}
    if "k_suggestion" in results:
        out["k_suggestion"] = results["k_suggestion"]  # what --k auto fitted and kept
    out.update(simulate(labels, assignments, distances, seed=seed))
    out["cpu_seconds"] = time.process_time() - start
    return out


def summarise(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k.startswith(("actions_", "inspected_", "correct_after", "wrong_in"))] + ["k"]
    return {key: {"mean": statistics.fmean(r[key] for r in rows),
                  "std": statistics.pstdev([r[key] for r in rows]) if len(rows) > 1 else 0.0} for key in keys}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="name shown in tables and plots")
    p.add_argument("--method", required=True, help="name shown in tables and plots")
    p.add_argument("--runs", nargs="+", required=True, help="OUT/seed-S folders of launch/cluster.py --save-heads")
    p.add_argument("--out", required=True, help="summary .json (per run, mean and std, curve breakpoints)")
    args = p.parse_args(argv)
    rows = [simulate_run(Path(r)) for r in args.runs]
    n = rows[0]["n"]
    summary = {"dataset": args.dataset, "method": args.method, "n": n, "runs": rows, "summary": summarise(rows),
               "one_by_one": one_by_one(n)}
    write_json_atomic(Path(args.out), summary)
    for r in rows:
        print(f"{args.dataset} | {args.method} | seed {r['seed']} k={r['k']}: after naming "
              f"{r['correct_after_naming'] / n:.1%}; actions to 80/90/95 %: "
              f"{r['actions_80']} / {r['actions_90']} / {r['actions_95']}; wrong ones in the farthest fifth: "
              f"{r['wrong_in_farthest_20pct']:.0%}; inspected for 95 %: "
              f"{r['inspected_95']} (random order {r['inspected_random_95']}); sizes match: "
              f"{r['sizes_match_results']}; {r['cpu_seconds']:.1f} CPU s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark the clustering heads on Fashion-MNIST train+test (70,000 images), raw pixels.

Seed-major: for each seed, every method runs once (launch/cluster.py, one process per run), so a benchmark
stopped early still has the same seeds for every method. The autoencoder of a seed is pretrained by the
first method that needs it and read from OUT/ae_cache by the others (the cache key hashes data, settings and
seed). Per-method results are merged into OUT/METHOD/results.json and summarised as a Markdown table.

  OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/heads/run_heads.py --out runs/heads --seeds 10
  python benchmarks/heads/run_heads.py --out runs/heads --summarise-only [--export benchmarks/results/heads/NAME]

On a machine with more cores (or a GPU), ``--parallel P`` runs P seeds at once, each seed's methods in order
(they share that seed's autoencoder). ``head.NAME=VALUE`` is passed to every method (launch/cluster.py's own
syntax), ``METHOD.NAME=VALUE`` to one method only (``dec.max_iter=20000``), and ``--features FILE`` clusters an
extracted features file instead of raw pixels.

A seed whose training fails (a collapsed autoencoder, a NaN, an eigensolver that did not converge: all found
without labels) is recorded as failed, counted in the table's seeds column, and left out of the statistics.
When the failure is in the seed's shared autoencoder, the seed's remaining methods are recorded as failed
too, without running: they would train on the same autoencoder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
METHODS = ("kmeans", "ae_kmeans", "dec", "vade", "spectralnet")


def merge(out: Path, method: str) -> dict | None:
    """Gather OUT/METHOD/seed-*/results.json (and OUT/METHOD/results.json runs, if any) by seed."""
    runs = {}
    for path in sorted((out / method).glob("**/results.json")):
        for run in json.loads(path.read_text())["runs"]:
            runs[run["seed"]] = run
    if not runs:
        return None
    ordered = [runs[s] for s in sorted(runs)]
    scored = [r for r in ordered if "failed" not in r]  # failed seeds are counted, not scored
    summary = {"method": method, "runs": scored, "failed_seeds": [r["seed"] for r in ordered if "failed" in r]}
    if not scored:
        return summary
    for metric in ("acc", "nmi", "ari", "seconds"):
        values = [r[metric] for r in scored if metric in r]  # no acc/nmi/ari when the data has no labels
        if values:
            summary[metric] = {"median": statistics.median(values), "mean": statistics.fmean(values),
                               "std": statistics.pstdev(values) if len(values) > 1 else 0.0}
    return summary


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.0f}" if values else "-"


def table(out: Path) -> str:
    """Markdown summary. Times per run: wall clock, and CPU time of the (single-threaded) process, which is
    what an uncontended single-core run takes; the autoencoder pretraining is counted once per seed, in the
    first method that needs it, and shown separately."""
    lines = ["| method | seeds | ACC mean±std | ACC median | NMI mean±std | NMI median | ARI mean±std | ARI median "
             "| CPU s/run (head) | CPU s (AE pretrain) | wall s/run |", "|" + "---|" * 11]
    for method in METHODS:
        s = merge(out, method)
        if s is None:
            continue
        failed = f" (+{len(s['failed_seeds'])} failed)" if s["failed_seeds"] else ""
        if not s["runs"]:
            lines.append(f"| {method} | 0{failed} |" + " - |" * 9)
            continue
        cells = [f"{s[m]['mean']:.3f}±{s[m]['std']:.3f} | {s[m]['median']:.3f}" if m in s else "- | -"
                 for m in ("acc", "nmi", "ari")]
        runs = s["runs"]
        head_cpu = [r["cpu_seconds"] - r.get("ae_cpu_seconds", 0.0) for r in runs if "cpu_seconds" in r]
        ae_cpu = [r["ae_cpu_seconds"] for r in runs if "ae_cpu_seconds" in r]
        ae_wall = [r["ae_seconds"] for r in runs if r.get("ae_seconds")]
        ae_cell = _mean(ae_cpu) if ae_cpu else (f"({_mean(ae_wall)} wall)" if ae_wall else "-")
        wall = [r["seconds"] for r in runs]
        lines.append(f"| {method} | {len(runs)}{failed} | " + " | ".join(cells)
                     + f" | {_mean(head_cpu)} | {ae_cell} | {_mean(wall)} |")
    return "\n".join(lines)


def export(out: Path, dest: Path) -> None:
    """Write the merged results that BENCHMARKS.md cites: DEST/METHOD.json (every seed, the statistics, the
    head's settings and one command line) and DEST/TABLE.md. Local paths (the cached autoencoder) are dropped."""
    dest.mkdir(parents=True, exist_ok=True)
    for method in METHODS:
        summary = merge(out, method)
        if summary is None:
            continue
        files = [json.loads(f.read_text()) for f in sorted((out / method).glob("**/results.json"))]
        first = next((f for f in files if "params" in f), {})  # a skipped seed's file holds only its failure
        for run in summary["runs"]:
            run.pop("ae_file", None)
        summary.update({key: first[key] for key in ("source", "params", "overrides") if key in first})
        if "argv" in first:  # the script's path in the checkout that ran it says nothing
            summary["argv"] = ["launch/cluster.py", *first["argv"][1:]]
        (dest / f"{method}.json").write_text(json.dumps(summary, indent=1) + "\n")
    (dest / "TABLE.md").write_text(table(out) + "\n")


def run_seed(args: argparse.Namespace, seed: int) -> None:
    """Every method of one seed, in order, one launch/cluster.py process each."""
    out = Path(args.out)
    failure = None
    for method in args.methods:
        if failure is not None:  # the methods of a seed share its autoencoder: its failure fails them all
            skipped = {"seed": seed, "failed": f"skipped: {failure}", "failed_in": "autoencoder", "seconds": 0.0}
            payload = {"method": method, "runs": [skipped]}
            (out / method / f"seed-{seed}").mkdir(parents=True, exist_ok=True)
            (out / method / f"seed-{seed}" / "results.json").write_text(json.dumps(payload, indent=2))
            (out / "TABLE.md").write_text(table(out) + "\n")
            continue
        cmd = [sys.executable, str(REPO / "launch/cluster.py"), "--method", method, "--data", "fashion_mnist",
               "--k", "10", "--first-seed", str(seed), "--seeds", "1",
               "--out", str(out / method / f"seed-{seed}"), "--ae-cache", str(out / "ae_cache"), "--no-progress"]
        cmd += ["--device", args.device]
        if args.data_root:
            cmd += ["--data-root", args.data_root]
        if args.features:
            cmd += ["--features", args.features]
        for pair in args.overrides:
            target, _, setting = pair.partition(".")
            if target == "head":
                cmd.append(pair)
            elif target == method:  # METHOD.NAME=VALUE applies to that method only
                cmd.append(f"head.{setting}")
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL)
        print(f"seed {seed} {method}: {time.perf_counter() - start:.0f} s wall (process)", flush=True)
        results = out / method / f"seed-{seed}" / "results.json"
        run = json.loads(results.read_text())["runs"][0] if results.is_file() else {}
        if "failed" in run:  # a recorded training failure (launch/cluster.py exits 1 when every seed failed)
            if run.get("failed_in") == "autoencoder":
                failure = f"{method} failed on this seed: {run['failed']}"
        elif proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
        (out / "TABLE.md").write_text(table(out) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--data-root", default=None, help="Fashion-MNIST IDX folder (default: Debian's copy)")
    p.add_argument("--features", default=None, help="cluster this .npz from launch/extract.py instead of pixels")
    p.add_argument("overrides", nargs="*", metavar="head.NAME=VALUE",
                   help="hyperparameters for every method (head.ae_epochs=30) or one (dec.max_iter=20000)")
    p.add_argument("--device", default="cpu", help="torch device for the heads (the CPU benchmark uses cpu)")
    p.add_argument("--parallel", type=int, default=1, help="seeds run at the same time (default 1)")
    p.add_argument("--summarise-only", action="store_true")
    p.add_argument("--export", default=None, metavar="DIR", help="also write the merged results to DIR")
    args = p.parse_args()
    for pair in args.overrides:
        if "=" not in pair or pair.partition(".")[0] not in ("head", *METHODS):
            p.error(f"{pair!r} is not head.NAME=VALUE or METHOD.NAME=VALUE (METHOD one of {', '.join(METHODS)})")
    if not args.summarise_only:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            for done in [pool.submit(run_seed, args, seed) for seed in seeds]:
                done.result()  # re-raises a failed run
    print(table(Path(args.out)))
    if args.export:
        export(Path(args.out), Path(args.export))


if __name__ == "__main__":
    main()

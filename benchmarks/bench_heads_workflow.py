"""The heads workflow end to end: launch/extract.py of one layer, then launch/cluster.py --method kmeans
--normalise whiten:64 on the file, each stage timed and its peak memory read by /usr/bin/time -v.

    python benchmarks/bench_heads_workflow.py --checkpoint runs/headline/fmnist_train_seed0 \
        --out benchmarks/results/heads_workflow/after
    # the old defaults (conv3 unpooled, 6,272 dims, and no logging), from the code before issue 29:
    mkdir -p /tmp/dc_before && git archive 3396069 deepcluster | tar -x -C /tmp/dc_before
    python benchmarks/bench_heads_workflow.py --code /tmp/dc_before --checkpoint runs/headline/fmnist_train_seed0 \
        --out benchmarks/results/heads_workflow/before

Each stage runs as its own process (``python -m deepcluster.cli.*`` started in ``--code``), so
"peak RSS" is that command's own high-water mark. Besides wall time and memory it records the longest
stretch with no output at all (no log line, no progress-bar update): what a user waits without a sign of
life. OUT/summary.json holds every number; the features file is deleted afterwards unless --keep-features.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def npz_shape(path: Path, name: str = "features") -> tuple[int, ...]:
    """Shape of one array of an .npz, read from its header (the data stays on disk)."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return tuple(int(n) for n in read_header(f)[0])


def timed(cmd: list[str], env: dict, log_path: Path, cwd: Path) -> dict:
    """Run ``cmd`` under /usr/bin/time -v; wall seconds, peak RSS (MB), longest silence (s), exit code."""
    time_file = log_path.with_suffix(".time")
    proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", str(time_file), *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, cwd=cwd)
    start = last = time.perf_counter()
    longest = 0.0
    with open(log_path, "wb") as log:
        while chunk := proc.stdout.read1(65536):  # progress bars end lines with \r: any byte is a sign of life
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
            log.write(chunk)
    rc = proc.wait()
    longest = max(longest, time.perf_counter() - last)
    report = time_file.read_text()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", report).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report).group(1))
    return {"cmd": " ".join(cmd), "rc": rc, "wall_s": round(seconds, 1), "peak_rss_mb": round(rss_kb / 1024),
            "longest_silence_s": round(longest, 1), "measured_s": round(time.perf_counter() - start, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint file, run directory or export directory")
    p.add_argument("--out", required=True, help="folder for summary.json, the logs and the cluster results")
    p.add_argument("--code", default=str(ROOT), help="folder holding the deepcluster package to run (default: "
                   "this checkout)")
    p.add_argument("--layer", default="conv3")
    p.add_argument("--split", default="all", help="extract's --split (all = Fashion-MNIST's 70,000 images)")
    p.add_argument("--normalise", default="whiten:64")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--threads", default="1", help="OMP_NUM_THREADS of both stages")
    p.add_argument("--extract-arg", action="append", default=[], help="extra argument for extract (repeatable), "
                   "e.g. --extract-arg=--max-dims --extract-arg=0")
    p.add_argument("--keep-features", action="store_true")
    args = p.parse_args()

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    code = Path(args.code).resolve()
    env = {**os.environ, "OMP_NUM_THREADS": args.threads, "PYTHONPATH": str(code)}
    features = out / "features.npz"
    extract = [sys.executable, "-m", "deepcluster.cli.extract", "--checkpoint", str(Path(args.checkpoint).resolve()),
               "--layer", args.layer, "--split", args.split, "--workers", "0", "--out", str(features),
               *args.extract_arg]
    cluster = [sys.executable, "-m", "deepcluster.cli.cluster", "--method", "kmeans", "--data", "fashion_mnist",
               "--features", str(features), "--normalise", args.normalise, "--k", str(args.k), "--seeds",
               str(args.seeds), "--out", str(out / "cluster")]
    summary: dict = {"code": str(code), "checkpoint": args.checkpoint, "threads": args.threads,
                     "load_average_before": os.getloadavg()}
    summary["extract"] = timed(extract, env, out / "extract.log", code)
    if summary["extract"]["rc"] != 0:
        print((out / "extract.log").read_text()[-3000:], file=sys.stderr)
        return 1
    summary["features_file_mb"] = round(features.stat().st_size / 2**20)
    summary["features_shape"] = npz_shape(features)
    summary["cluster"] = timed(cluster, env, out / "cluster.log", code)
    if summary["cluster"]["rc"] != 0:
        print((out / "cluster.log").read_text()[-3000:], file=sys.stderr)
        return 1
    results = json.loads((out / "cluster" / "results.json").read_text())
    summary.update(clustered_dims=results["dim"], n=results["n"], acc=results["acc"]["median"],
                   nmi=results["nmi"]["median"], load_average_after=os.getloadavg())
    summary["total_wall_s"] = round(summary["extract"]["wall_s"] + summary["cluster"]["wall_s"], 1)
    summary["peak_rss_mb"] = max(summary["extract"]["peak_rss_mb"], summary["cluster"]["peak_rss_mb"])
    if not args.keep_features:
        features.unlink()
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""1 process × 2 threads vs. 2 processes × 1 thread on the same 2 cores: is DDP on gloo worth it here?

    python benchmarks/bench_processes.py --out benchmarks/results/processes data.limit=20000 train.epochs=3

Runs the default recipe both ways (the overrides apply to both) and compares per-epoch extract / cluster
/ train seconds and training images/s, epoch 0 excluded (warm-up). Writes summary.md into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(out: Path, name: str, nproc: int, overrides: list[str]) -> list[dict]:
    run_dir = out / name
    env = {**os.environ, "OMP_NUM_THREADS": str(2 // nproc)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(REPO / "launch" / "train.py"), "--config", str(REPO / "configs" / "fashion_mnist.yaml"),
           f"run_dir={run_dir}", "log.tensorboard=false", *overrides]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layouts = (("1proc_2threads", 1), ("2proc_1thread", 2))
    results = {name: run(out, name, nproc, args.overrides) for name, nproc in layouts}
    keys = ("time_extract_s", "time_cluster_s", "time_train_s", "train_images_per_s")
    lines = ["| setup | extract s | cluster s | train s | train img/s |", "|---|---|---|---|---|"]
    medians = {}
    for name, rows in results.items():
        medians[name] = {k: statistics.median(r[k] for r in rows[1:]) for k in keys}
        m = medians[name]
        lines.append(f"| {name} | {m['time_extract_s']:.1f} | {m['time_cluster_s']:.1f} | {m['time_train_s']:.1f} | "
                     f"{m['train_images_per_s']:.0f} |")
    ratio = medians["2proc_1thread"]["train_images_per_s"] / medians["1proc_2threads"]["train_images_per_s"]
    lines.append(f"\ntraining throughput, 2 processes / 1 process: {ratio:.2f} (medians over epochs 1..)")
    text = "\n".join(lines)
    (out / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

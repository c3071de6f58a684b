"""What the k-NN monitor costs: its share of each epoch's wall time, read from runs' metrics.jsonl.

The monitor's time (``time_knn_s``: the held-out extraction where there is one, the sharded search and
the merge) against the whole epoch (extraction + clustering + monitor + training). Epoch 0 is left out
(its extraction also warms up the allocator and the data). Medians over the epochs of each run.

    torchrun --standalone --nproc_per_node=2 launch/train.py --config configs/fashion_mnist.yaml \\
        run_dir=runs/knn_cost data.split=train train.epochs=5
    python benchmarks/bench_knn_monitor.py runs/knn_cost
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def shares(run_dir: Path) -> list[tuple[float, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    out = []
    for r in rows[1:]:
        epoch = r["time_extract_s"] + r["time_cluster_s"] + r["time_knn_s"] + r["time_train_s"]
        out.append((r["time_knn_s"], epoch))
    return out


def main(runs: list[str]) -> None:
    print("| run | epochs | k-NN s (median) | epoch s (median) | k-NN share (median) |")
    print("|---|---|---|---|---|")
    for run in map(Path, runs):
        pairs = shares(run)
        knn = statistics.median(k for k, _ in pairs)
        epoch = statistics.median(e for _, e in pairs)
        share = statistics.median(k / e for k, e in pairs)
        print(f"| {run} | {len(pairs)} | {knn:.2f} | {epoch:.1f} | {100 * share:.1f} % |")


if __name__ == "__main__":
    main(sys.argv[1:])

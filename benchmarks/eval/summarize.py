"""Print the Markdown rows of BENCHMARKS.md §4 from runs/eval_bench/probe_*/linear_eval.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/eval_bench")
print("| backbone | epochs trained | conv1 | conv2 | conv3 | penultimate | k-NN top-1 (k=20) | probe + k-NN wall |")
print("|---|---|---|---|---|---|---|---|")
for name in ("random_init", "deepcluster", "supervised"):
    path = out / f"probe_{name}" / "linear_eval.json"
    if not path.exists():
        continue
    r = json.loads(path.read_text())
    cells = [f"{r['linear'][layer]['top1'] * 100:.1f}" if layer in r["linear"] else "-"
             for layer in ("conv1", "conv2", "conv3", "penultimate")]
    knn = f"{r['knn']['top1'] * 100:.1f}" if r.get("knn") else "-"
    wall = r["time_probe_s"] + r["time_knn_s"]
    print(f"| {name} | {r['checkpoint_epoch'] + 1} | {' | '.join(cells)} | {knn} | {wall / 60:.1f} min |")

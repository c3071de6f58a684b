"""The validation sweep's table: k-NN top-1 on the validation split per candidate and epoch (metrics.jsonl, eval.json).

    python benchmarks/protocol/summarize_sweep.py runs/val_sweep
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folder: Path) -> None:
    print("| candidate | k-NN % backbone after 0 / 4 / 8 / all epochs | k-NN % clustered, final |"
          " k-means ACC final (clustered) |")
    print("|---|---|---|---|")
    for run in sorted(p for p in folder.iterdir() if (p / "eval.json").is_file()):
        final = json.loads((run / "eval.json").read_text()).get("final")
        if final is None:  # still running
            continue
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        curve = [100 * rows[e]["knn_top1_backbone"] for e in (0, 4, 8) if e < len(rows)]
        curve.append(100 * final["knn_top1_backbone"])
        print(f"| {run.name} | {' / '.join(f'{v:.1f}' for v in curve)} | "
              f"{100 * final['knn_top1_clustered']:.1f} | {final['acc']:.3f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Markdown table of a recipe sweep (benchmarks/recipe/sweep.py): one row per variant, ACC / NMI per
layer and normalisation, k-means with k = #classes on the whole dataset. The last row of a variant wins."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(results: str) -> None:
    rows = {}
    for line in Path(results).read_text().splitlines():
        row = json.loads(line)
        rows[row["variant"]] = row
    columns = list(next(iter(rows.values()))["scores"])
    print("| variant | overrides | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for name, row in rows.items():
        extra = [o for o in row["overrides"] if not o.startswith(("data.limit", "train.epochs"))] or ["(base)"]
        cells = [f"{row['scores'][c]['acc']:.3f} / {row['scores'][c]['nmi']:.3f}" if c in row["scores"] else "-"
                 for c in columns]  # a variant scored on fewer layers leaves its other cells empty
        print(f"| {name} | {' '.join(extra)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])

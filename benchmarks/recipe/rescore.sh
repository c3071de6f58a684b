#!/usr/bin/env bash
# Re-score sweep checkpoints at the recipe's evaluation setting, over seeds: conv2 features (pooled to ~2k
# dims) of all 70,000 Fashion-MNIST images, PCA-whitened to 16 + L2, k-means k=10 with 5 seeds. The sweep
# itself scores one k-means seed per cell; this gives the mean ± std the comparison needs.
#   bash benchmarks/recipe/rescore.sh OUT NAME=CHECKPOINT [NAME=CHECKPOINT ...]
# Prints one table row per checkpoint; finished ones are skipped, so it resumes.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; shift
mkdir -p "$out"
for spec in "$@"; do
  name=${spec%%=*}; checkpoint=${spec#*=}
  if [ ! -f "$out/$name/results.json" ]; then
    python launch/extract.py --checkpoint "$checkpoint" --layer conv2 --target-dims 2048 --out "$out/$name.npz" --workers 0
    python launch/cluster.py --method kmeans --data fashion_mnist --features "$out/$name.npz" --normalise whiten:16 \
        --k 10 --seeds 5 --out "$out/$name" --no-progress
    rm "$out/$name.npz"
  fi
done
for spec in "$@"; do
  name=${spec%%=*}
  python - "$out/$name/results.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cells = [f"{r[m]['mean']:.3f}±{r[m]['std']:.3f}" for m in ("acc", "nmi", "ari")]
print(f"| {sys.argv[2]} | " + " | ".join(cells) + f" | {r['acc']['median']:.3f} |")
PY
done

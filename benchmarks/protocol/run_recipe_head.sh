#!/usr/bin/env bash
# The recipe head (spectral clustering on the 10-NN graph of whitened conv3 features, balanced assignment:
# issue 7's settings, unchanged) on the headline runs' networks, scored on the 10,000 test images only.
#   bash benchmarks/protocol/run_recipe_head.sh runs/headline runs/heads_protocol
set -euo pipefail
runs=${1:-runs/headline}; out=${2:-runs/heads_protocol}
mkdir -p "$out"
# conv3 unpooled (--max-dims 0: 6,272 dims), as BENCHMARKS.md's row was measured (extract's default is 2,048)
for seed in 0 1 2; do
  feats="$out/seed${seed}_conv3_test.npz"
  [ -f "$feats" ] || python launch/extract.py --checkpoint "$runs/fmnist_train_seed$seed" --layer conv3 --max-dims 0 --split test --out "$feats"
  [ -f "$out/seed${seed}_test/results.json" ] || python launch/cluster.py --method spectral --data fashion_mnist \
    --features "$feats" --normalise whiten:64 head.assign=balanced --k 10 --seeds 1 --first-seed "$seed" \
    --out "$out/seed${seed}_test" --no-progress
done

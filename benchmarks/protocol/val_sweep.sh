#!/usr/bin/env bash
# The validation sweep of BENCHMARKS.md "Choosing settings": every candidate pretrains on Fashion-MNIST's
# fit split (the train split less its last 10,000 images) and is scored by the engine's own k-NN monitor
# on the validation split (those 10,000). The test split is never read. One seed per candidate.
#   bash benchmarks/protocol/val_sweep.sh runs/val_sweep
set -euo pipefail
out=${1:-runs/val_sweep}
mkdir -p "$out"
declare -A candidates=(
  [shipped]=""
  [crop03]="data.crop_min_scale=0.3"
  [k300]="cluster.k=300"
  [k30]="cluster.k=30"
  [lr01]="train.lr=0.1"
)
for name in shipped crop03 k300 k30 lr01; do
  [ -f "$out/$name/eval.json" ] && grep -q '"final"' "$out/$name/eval.json" && continue   # done: skip
  # shellcheck disable=SC2086
  torchrun --standalone --nproc_per_node=2 launch/train.py --config configs/fashion_mnist.yaml \
    run_dir="$out/$name" data.split=fit log.tensorboard=false ${candidates[$name]} > "$out/$name.log" 2>&1
done
python benchmarks/protocol/summarize_sweep.py "$out"

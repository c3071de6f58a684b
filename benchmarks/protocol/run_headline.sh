#!/usr/bin/env bash
# Every run behind BENCHMARKS.md's headline tables: the shipped recipe (configs/fashion_mnist.yaml)
# pretrained on Fashion-MNIST's train split for 3 seeds, then run unchanged on the two transfer sets
# (scikit-learn digits; letters rendered from Debian fonts), then scored by headline.py.
#   bash benchmarks/protocol/run_headline.sh runs/headline [extra overrides...]
# Runs that finished are skipped, so a stopped script resumes. Needs the fonts listed in
# make_letters_folder.py for the letters set.
set -euo pipefail
out=${1:-runs/headline}; shift || true
mkdir -p "$out" data
[ -d data/digits ] || python benchmarks/recipe/make_digits_folder.py --out data/digits
[ -d data/letters ] || python benchmarks/protocol/make_letters_folder.py --out data/letters
train() {  # run_dir, overrides...
  local run_dir=$1; shift
  [ -f "$run_dir/eval.json" ] && grep -q '"final"' "$run_dir/eval.json" && return 0
  torchrun --standalone --nproc_per_node=2 launch/train.py --config configs/fashion_mnist.yaml \
    run_dir="$run_dir" "$@" > "$run_dir.log" 2>&1
}
for seed in 0 1 2; do
  train "$out/fmnist_train_seed$seed" data.split=train seed=$seed "$@"
done
for seed in 0 1 2; do
  for set in digits letters; do
    train "$out/${set}_seed$seed" data.name=imagefolder data.root=data/$set data.image_size=28 seed=$seed "$@"
  done
done
for set in fmnist_train digits letters; do
  python benchmarks/protocol/headline.py "$out/${set}"_seed{0,1,2} --out "$out/headline_$set.json" \
    > "$out/headline_$set.md"
done

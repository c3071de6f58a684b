#!/usr/bin/env bash
# Fashion-MNIST linear-probe and k-NN benchmark of the compact backbone: random init, DeepCluster-pretrained,
# supervised reference. Every step is single-core (OMP_NUM_THREADS=1 taskset -c 0); timings go to OUT/times.txt.
#   bash benchmarks/eval/run_benchmark.sh [PRETRAIN_EPOCHS=5] [PROBE_EPOCHS=10] [SUPERVISED_EPOCHS=5]
# Steps whose output exists are skipped, so the script can be re-run after an interruption.
set -euo pipefail
cd "$(dirname "$0")/../.."
PRETRAIN_EPOCHS=${1:-5}; PROBE_EPOCHS=${2:-10}; SUP_EPOCHS=${3:-5}
OUT=runs/eval_bench
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
one() { /usr/bin/time -f "%e s wall" -a -o "$OUT/times.txt" taskset -c 0 "$@"; }
step() { echo "== $1" | tee -a "$OUT/times.txt"; }

if [ ! -f "$OUT/deepcluster/checkpoints/epoch_$(printf %04d $((PRETRAIN_EPOCHS - 1))).pt" ]; then
  step "pretrain DeepCluster $PRETRAIN_EPOCHS epochs"
  one python launch/train.py --config configs/fashion_mnist.yaml run_dir=$OUT/deepcluster train.epochs=$PRETRAIN_EPOCHS
fi
[ -f "$OUT/random_init.pt" ] || { step "random init"; one python benchmarks/eval/random_init.py --config configs/fashion_mnist.yaml --out $OUT/random_init.pt; }
[ -f "$OUT/supervised.pt" ] || { step "supervised $SUP_EPOCHS epochs"; one python benchmarks/eval/supervised.py --config configs/fashion_mnist.yaml --epochs $SUP_EPOCHS --out $OUT/supervised.pt; }
for name in random_init deepcluster supervised; do
  ckpt=$OUT/$name.pt; [ "$name" = deepcluster ] && ckpt=$OUT/deepcluster
  if [ ! -f "$OUT/probe_$name/linear_eval.json" ]; then
    step "probe $name ($PROBE_EPOCHS epochs)"
    one python launch/eval_linear.py --checkpoint $ckpt --data fashion_mnist --out $OUT/probe_$name --epochs $PROBE_EPOCHS
  fi
done
python benchmarks/eval/summarize.py $OUT

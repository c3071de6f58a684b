#!/usr/bin/env bash
# BENCHMARKS §3 rows run with DEC-keras's autoencoder recipe on one GPU box (one GPU, 16 cores):
# 10 seeds of AE+K-Means / DEC / VaDE on Fashion-MNIST raw pixels, and on the DeepCluster conv3 features
# (whitened to 64 dims) of the recipe's checkpoint. Seeds run in parallel, one process each; every run's
# results.json is kept under OUT even when DEADLINE cuts the sweep short.
#
#   bash benchmarks/heads/gpu_sweep.sh OUT FMNIST_IDX_DIR [FEATURES.npz]
#
# DEC-keras's recipe: fan_in init, SGD lr 1 momentum 0.9, 300 epochs, batch 256; DEC up to 20,000 iterations.
# Budget: on an H200 with 10 processes at once an epoch took about 1 s per process (with 15 at once, 300
# epochs had not finished in 500 s), so the default needs 5+ min before DEC and VaDE start; AE_EPOCHS=100
# is what fitted a 15-minute device lease.
set -u
out=${1:?usage: gpu_sweep.sh OUT FMNIST_IDX_DIR [FEATURES.npz]}
fmnist=${2:?usage: gpu_sweep.sh OUT FMNIST_IDX_DIR [FEATURES.npz]}
features=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
recipe=(head.ae_init=fan_in head.ae_optimizer=sgd head.ae_lr=1 "head.ae_epochs=${AE_EPOCHS:-300}"
        "dec.max_iter=${DEC_MAX_ITER:-20000}")
common=(--device "${DEVICE:-cuda}" --methods ${METHODS:-ae_kmeans dec vade})
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
mkdir -p "$out"

timeout "${DEADLINE:-3600}" "${PYTHON:-python3}" "$here/run_heads.py" --out "$out/pixels" --data-root "$fmnist" \
    --seeds "${SEEDS:-10}" --parallel "${PAR_PIXELS:-10}" "${common[@]}" "${recipe[@]}" > "$out/pixels.log" 2>&1 &
if [ -n "$features" ]; then
    timeout "${DEADLINE:-3600}" nice -n 5 "${PYTHON:-python3}" "$here/run_heads.py" --out "$out/features" --data-root "$fmnist" \
        --features "$features" --seeds "${SEEDS_FEATURES:-5}" --parallel "${PAR_FEATURES:-5}" \
        "${common[@]}" "${recipe[@]}" > "$out/features.log" 2>&1 &
fi
wait
for part in pixels features; do
    [ -d "$out/$part" ] && "${PYTHON:-python3}" "$here/run_heads.py" --out "$out/$part" --summarise-only > "$out/$part.md"
done
exit 0

#!/usr/bin/env bash
# Hyperparameter exploration on a GPU box (not the benchmark; the benchmark is run_heads.py on CPU).
# Each job: NAME "METHODS" OVERRIDES... ; jobs run in parallel, 2 threads each.
# Usage: bash benchmarks/heads/tune_gpu.sh OUTDIR DATA_ROOT SEEDS
set -u
out=$1; root=$2; seeds=$3
job() {
  local name=$1 methods=$2; shift 2
  local sets=(); for s in "$@"; do sets+=(--set "$s"); done
  for m in $methods; do
    OMP_NUM_THREADS=2 python launch/cluster.py --method $m --data fashion_mnist --data-root "$root" --k 10 \
      --seeds $seeds --out "$out/$name/$m" --ae-cache "$out/ae_cache" --device cuda --no-progress "${sets[@]}" \
      > "$out/$name.$m.log" 2>&1
  done
}
mkdir -p "$out"
job a "ae_kmeans dec" ae_epochs=10 ae_lr=3e-3 &
job b "ae_kmeans dec" ae_epochs=60 &
job c "dec" ae_epochs=10 lr=0.001 &
job d "dec" ae_epochs=10 update_interval=40 tol=0.0005 &
job s1 "spectralnet" ae_epochs=10 batch_size=2048 n_neighbors=3 &
job s2 "spectralnet" ae_epochs=10 iters=3000 scale_neighbor=5 n_neighbors=10 &
job s3 "spectralnet" ae_epochs=10 use_autoencoder=false &
wait
python - "$out" <<'PY'
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("*/*/results.json")):
    r = json.load(open(f)); runs = r["runs"]
    print(f.parent.parent.name, r["method"], " ".join(f"{x['acc']:.3f}/{x['nmi']:.3f}/{x['ari']:.3f} {x['seconds']:.0f}s" for x in runs),
          {k: v for k, v in runs[0].items() if k in ("dec_stopped", "dec_iterations", "ae_mse", "spectralnet_ortho")})
PY
grep -il error "$out"/*.log || true

#!/usr/bin/env bash
# The simulated annotator (BENCHMARKS.md, "Annotation effort"): Fashion-MNIST test (10,000) and scikit-learn
# digits (1,797), DeepCluster conv3 features of the three headline networks with the recipe head (spectral,
# whiten:64, balanced) and raw-pixel k-means, each with k = 10 and with --k auto; one process, one thread.
#   bash benchmarks/annotation/run.sh runs/headline runs/annotation
set -euo pipefail
runs=${1:-runs/headline}; work=${2:-runs/annotation}; res=benchmarks/results/annotation
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$work" "$res"
here=benchmarks/annotation

[ -f "$work/fmnist_pixels.npz" ] || python $here/pixels_npz.py fashion_mnist:test "$work/fmnist_pixels.npz"
[ -f "$work/digits_pixels.npz" ] || python $here/pixels_npz.py imagefolder:data/digits "$work/digits_pixels.npz"
for s in 0 1 2; do  # conv3 unpooled (6,272 dims), as the recipe head's row in §0 (run_recipe_head.sh's files)
  f="$work/fmnist_dc_seed$s.npz"
  [ -f "$f" ] || python launch/extract.py --checkpoint "$runs/fmnist_train_seed$s" --layer conv3 --max-dims 0 \
    --split test --out "$f"
  f="$work/digits_dc_seed$s.npz"
  [ -f "$f" ] || python launch/extract.py --checkpoint "$runs/digits_seed$s" --layer conv3 --max-dims 0 --out "$f"
done

head_run() {  # set features-kind k seed
  local out="$work/$1_$2_k$3_seed$4"
  [ -f "$out/results.json" ] && return
  if [ "$2" = dc ] && [ "$3" = auto ]; then
    # the k = 10 run's fitted whitening applied once more (faiss's PCA of 6,272 dims takes ~5 min a core):
    # the same 64-d input, so --normalise none here is the recipe's whiten:64
    local w="$work/$1_dc_w64_seed$4.npz"
    [ -f "$w" ] || python -c "import sys, numpy as np; from deepcluster.heads.normalise import FeatureNormaliser as N
f = dict(np.load(sys.argv[1])); f['features'] = N.load(sys.argv[2]).transform(f['features']); np.savez(sys.argv[3], **f)" \
      "$work/$1_dc_seed$4.npz" "$work/$1_dc_k10_seed$4/seed-$4/normaliser.npz" "$w"
    python launch/cluster.py --method spectral --data fashion_mnist --features "$w" --normalise none \
      head.assign=balanced --k auto --seeds 1 --first-seed "$4" --save-heads --out "$out" --no-progress
  elif [ "$2" = dc ]; then
    python launch/cluster.py --method spectral --data fashion_mnist --features "$work/$1_dc_seed$4.npz" \
      --normalise whiten:64 head.assign=balanced --k "$3" --seeds 1 --first-seed "$4" --save-heads --out "$out" --no-progress
  else  # raw pixels: one file, the k-means seed varies
    python launch/cluster.py --method kmeans --data fashion_mnist --features "$work/$1_pixels.npz" \
      --k "$3" --seeds 1 --first-seed "$4" --save-heads --out "$out" --no-progress
  fi
}
for set in fmnist digits; do
  for kind in dc px; do
    for k in 10 auto; do
      for s in 0 1 2; do head_run $set $kind $k $s; done
      python $here/simulate.py --dataset $set --method "${kind}_k$k" --out "$res/${set}_${kind}_k$k.json" --runs \
        "$work/${set}_${kind}_k${k}_seed0/seed-0" "$work/${set}_${kind}_k${k}_seed1/seed-1" "$work/${set}_${kind}_k${k}_seed2/seed-2"
    done
  done
done
python $here/plot.py "$res" --out "$res/annotation_curves.png"

"""The contract of every head (base.py): recovery of separated clusters, out-of-sample prediction, save/load,
determinism, bad input, and a run on a small real Fashion-MNIST subset. CPU, small sizes, real torch and faiss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deepcluster.heads import HEADS, build_head, check_features, load_head
from deepcluster.metrics import cluster_accuracy

from .conftest import K, SMALL, assert_written_atomically, blobs

FMNIST = Path("/usr/share/datasets/fashion-mnist")


# ---- every head -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(HEADS))
def test_recovers_separated_clusters(method, fitted, train_blobs):
    x, y = train_blobs
    assert cluster_accuracy(y, fitted[method].predict(x)) >= 0.95


@pytest.mark.parametrize("method", sorted(HEADS))
def test_out_of_sample_prediction(method, fitted):
    x_new, y_new = blobs(50, seed=7)
    assert cluster_accuracy(y_new, fitted[method].predict(x_new)) >= 0.95


@pytest.mark.parametrize("method", sorted(HEADS))
def test_save_load_round_trip(method, fitted, tmp_path):
    x, _ = blobs(30, seed=3)
    fitted[method].save(tmp_path / method)
    restored = load_head(tmp_path / method)
    assert type(restored) is type(fitted[method]) and restored.params == fitted[method].params
    np.testing.assert_array_equal(restored.predict(x), fitted[method].predict(x))


@pytest.mark.parametrize("method", sorted(HEADS))
def test_save_writes_both_files_atomically(method, fitted, tmp_path):
    fitted[method].save(tmp_path / method)
    fitted[method].save(tmp_path / method)  # over an earlier save
    assert sorted(p.name for p in (tmp_path / method).iterdir()) == ["config.json", "weights.safetensors"]
    for name in ("config.json", "weights.safetensors"):
        assert_written_atomically(tmp_path / method / name)


@pytest.mark.parametrize("method", ["dec", "vade", "spectralnet"])
def test_same_seed_same_result(method, fitted, train_blobs, tmp_path):
    """A second fit with the same seed (autoencoder trained afresh, no cache) gives the same labels."""
    x, _ = train_blobs
    again = build_head(method, K, seed=0, **SMALL[method]).fit(x)
    np.testing.assert_array_equal(again.predict(x), fitted[method].predict(x))


# ---- heads saved by earlier versions ------------------------------------------------------------------
@pytest.mark.parametrize("method, retired", [
    ("ae_kmeans", {"kmeans_pick": "even"}),
    ("dec", {"kmeans_pick": "lowest", "batch_order": "fixed"}),
    ("vade", {"kmeans_pick": "even", "prior_init": "kmeans"}),
])
def test_a_head_saved_with_a_since_removed_option_still_loads_and_predicts_the_same(method, retired, fitted, tmp_path):
    """kmeans_pick, batch_order and prior_init only shaped training: a head saved with them (any value) loads,
    without them, and predicts as it did."""
    x, _ = blobs(30, seed=3)
    fitted[method].save(tmp_path / method)
    config_file = tmp_path / method / "config.json"
    config = json.loads(config_file.read_text())
    config["params"].update(retired)
    config_file.write_text(json.dumps(config, indent=2))
    restored = load_head(tmp_path / method)
    assert restored.params == fitted[method].params
    np.testing.assert_array_equal(restored.predict(x), fitted[method].predict(x))


def test_a_saved_head_with_an_unknown_hyperparameter_is_refused(fitted, tmp_path):
    fitted["dec"].save(tmp_path / "dec")
    config_file = tmp_path / "dec" / "config.json"
    config = json.loads(config_file.read_text())
    config["params"]["max_iters"] = 5
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="unknown hyperparameter 'max_iters' for dec; did you mean 'max_iter'"):
        load_head(tmp_path / "dec")


# ---- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_refused(bad):
    x, _ = blobs(10, seed=0)
    x[3, 2] = bad
    with pytest.raises(ValueError, match="NaN or Inf in 1 of 40 rows"):
        build_head("kmeans", K).fit(x)


def test_k_larger_than_n_is_refused():
    with pytest.raises(ValueError, match="k=50 is larger than the 40 samples"):
        build_head("dec", 50).fit(blobs(10, seed=0)[0])


def test_shape_errors():
    with pytest.raises(ValueError, match="2-D"):
        check_features(np.zeros(5))
    head = build_head("kmeans", K).fit(blobs(10, seed=0)[0])
    with pytest.raises(ValueError, match="3 dims but the head was fitted on 20"):
        head.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown clustering method"):
        build_head("gmm", K)


def test_unfitted_heads_refuse_predict_and_save(tmp_path):
    head = build_head("kmeans", K)
    with pytest.raises(RuntimeError, match="not fitted; call fit"):
        head.predict(np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="cannot save an unfitted head"):
        head.save(tmp_path / "h")
    with pytest.raises(FileNotFoundError, match="is not a saved head"):
        load_head(tmp_path)


# ---- a small real subset ----------------------------------------------------------------------------
@pytest.mark.slow  # reads the whole Fashion-MNIST (70,000 images): about 3 s alone, far more on a busy machine
@pytest.mark.skipif(not FMNIST.is_dir(), reason="Fashion-MNIST is not installed")
def test_real_fashion_mnist_subset(tmp_path):
    from deepcluster.heads.inputs import load_inputs

    x, y, _ = load_inputs("fashion_mnist", None, None, None, limit=1000)
    assert x.shape == (1000, 784) and 0.0 <= x.min() and x.max() <= 1.0
    real = {"ae_epochs": 8, "ae_hidden": [256, 64]}
    params = {"kmeans": {}, "ae_kmeans": real, "dec": {**real, "max_iter": 150}, "vade": {**real, "epochs": 3},
              "spectralnet": {**real, "iters": 100, "batch_size": 500, "hidden": [128, 64]},
              "spectral": {"assign": "balanced"}}
    for method, p in params.items():
        head = build_head(method, 10, seed=0, **p)
        head.ae_cache = tmp_path
        acc = cluster_accuracy(y, head.fit(x).predict(x))
        assert acc > 0.35, f"{method} reached only ACC {acc:.3f} on 1,000 Fashion-MNIST images"

"""launch/cluster.py end to end, as a subprocess: raw pixels of a Fashion-MNIST subset, a features file,
a checkpoint, and the bad inputs that must stop it with a clear message."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from deepcluster.data.idx import DEBIAN_FASHION_MNIST as FMNIST

FAST_AE = ["head.ae_epochs=3", "head.ae_hidden=[256,64]", "head.ae_lr=1e-2", "head.ae_batch_size=64"]


def load_cli_module():
    spec = importlib.util.spec_from_file_location("cluster_cli", REPO / "launch/cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "launch/cluster.py"), "--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


def blob_file(path: Path, n_per: int = 50, k: int = 3, **extra: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(k), n_per)
    features = (rng.normal(0, 6, (k, 8))[labels] + rng.normal(0, 1, (len(labels), 8))).astype(np.float32)
    np.savez(path, **{"features": features, "labels": labels.astype(np.int64), **extra})
    return path


@pytest.mark.slow
@pytest.mark.skipif(not FMNIST.is_dir(), reason="Fashion-MNIST is not installed")
def test_raw_pixels_subset_writes_results(tmp_path):
    out = tmp_path / "dec"
    proc = run_cli("--method", "dec", "--data", "fashion_mnist", "--k", "10", "--seeds", "2", "--limit", "1000",
                   "--out", str(out), *FAST_AE, "head.max_iter=80", "head.update_interval=20")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "dec" and results["n"] == 1000 and results["dim"] == 784
    assert [r["seed"] for r in results["runs"]] == [0, 1]
    for run in results["runs"]:
        assert {"seed", "acc", "nmi", "ari", "seconds"} <= run.keys()
        assert run["acc"] > 0.3 and np.isfinite([run["nmi"], run["ari"]]).all()
    for metric in ("acc", "nmi", "ari"):
        assert set(results[metric]) == {"median", "mean", "std"}
    assert "median" in proc.stdout and "std" in proc.stdout  # the printed table
    assert len(list((out / "ae_cache").glob("ae-*.safetensors"))) == 2  # one autoencoder per seed


@pytest.mark.slow
def test_features_file(tmp_path):
    path = blob_file(tmp_path / "feats.npz", index=np.arange(150), keys=np.array([f"img{i}" for i in range(150)]))
    proc = run_cli("--method", "kmeans", "--data", "fashion_mnist", "--features", str(path), "--k", "3",
                   "--seeds", "3", "--out", str(tmp_path / "km"), "--save-heads")
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "km/results.json").read_text())
    assert results["acc"]["median"] >= 0.95 and len(results["runs"]) == 3
    assert (tmp_path / "km/seed-2/weights.safetensors").is_file()


@pytest.mark.parametrize("case", ["length", "nan", "k_too_large", "mnist_without_root", "imagefolder_pixels"])
def test_bad_input_is_a_clear_error(case, tmp_path):
    feats = tmp_path / "feats.npz"
    if case == "length":
        blob_file(feats)
        np.savez(feats, features=np.load(feats)["features"], labels=np.zeros(149, np.int64))
        args, message = ["--features", str(feats), "--k", "3"], "'features' has 150 rows but 'labels' has 149"
    elif case == "nan":
        blob_file(feats)
        bad = np.load(feats)["features"].copy()
        bad[7, 0] = np.nan
        np.savez(feats, features=bad)
        args, message = ["--features", str(feats), "--k", "3"], "NaN or Inf in 1 of 150 rows"
    elif case == "k_too_large":
        args, message = ["--features", str(blob_file(feats)), "--k", "500"], "k=500 is larger than the 150 samples"
    elif case == "mnist_without_root":
        args, message = ["--k", "10", "--data", "mnist"], "needs --data-root"
    else:  # raw pixels need one image size
        for name, size in [("a/0.png", (8, 8)), ("b/1.png", (9, 8))]:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            Image.new("L", size).save(tmp_path / name)
        args, message = ["--k", "2", "--data", "imagefolder", "--data-root", str(tmp_path)], "need images of one size"
    if "--data" not in args:
        args = ["--data", "fashion_mnist", *args]
    cli = load_cli_module()  # in-process: these fail before any training, no need to pay a process start
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        cli.main(["--method", "kmeans", "--out", str(tmp_path / "out"), "--no-progress", *args])
    assert message in str(err.value)
    assert not (tmp_path / "out/results.json").exists()


@pytest.mark.parametrize("method, pair, message", [
    ("dec", "max_iters=5", "unknown hyperparameter 'max_iters' for dec; did you mean 'max_iter'? valid: "),
    ("ae_kmeans", "max_iter=5", "unknown hyperparameter 'max_iter' for ae_kmeans; valid: "),
    ("kmeans", "n_inits=5", "unknown hyperparameter 'n_inits' for kmeans; did you mean 'n_init'?"),
    ("dec", "ae_optimizer=\"lbfgs\"", "ae_optimizer='lbfgs' is unknown; use one of adam, sgd"),
    ("vade", "ae_precision=\"fp16\"", "ae_precision='fp16' is unknown; use one of fp32, bf16"),
])
def test_a_misspelt_or_impossible_set_stops_before_any_work(method, pair, message, tmp_path):
    cli = load_cli_module()
    with pytest.raises(SystemExit) as err:
        cli.main(["--method", method, "--data", "fashion_mnist", "--features", str(blob_file(tmp_path / "f.npz")),
                  "--k", "3", f"head.{pair}", "--out", str(tmp_path / "out"), "--no-progress"])
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_collapsed_autoencoder_fails_its_seed_visibly_and_is_not_cached(tmp_path):
    """An autoencoder that learned nothing (lr 0 here; dead ReLUs after a too-large step in practice) would give
    every head a meaningless clustering: the seed is recorded as failed, not scored, and the run says so."""
    out = tmp_path / "dec"
    proc = run_cli("--method", "dec", "--data", "fashion_mnist", "--features", str(blob_file(tmp_path / "f.npz")),
                   "--k", "3", "--seeds", "2", "head.ae_hidden=[16]", "head.ae_epochs=1",
                   "head.ae_lr=0", "--out", str(out))
    assert proc.returncode == 1 and "error: every seed failed" in proc.stderr
    assert "warning: seed 1 failed: the autoencoder did not learn" in proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert [(r["seed"], "acc" in r) for r in results["runs"]] == [(0, False), (1, False)]
    assert results["failed_seeds"] == [0, 1] and "acc" not in results
    assert "predicting the mean; train longer (ae_epochs), lower ae_lr" in results["runs"][0]["failed"]
    assert not list((out / "ae_cache").glob("ae-*.safetensors"))


@pytest.mark.slow
def test_benchmark_counts_a_failed_seed_and_skips_its_other_methods(tmp_path):
    """benchmarks/heads/run_heads.py: the failure of a seed's autoencoder fails all its methods, and the
    table counts failed seeds apart from scored ones."""
    out = tmp_path / "bench"
    cmd = [sys.executable, str(REPO / "benchmarks/heads/run_heads.py"), "--out", str(out), "--seeds", "1",
           "--methods", "ae_kmeans", "dec", "--features", str(blob_file(tmp_path / "f.npz")),
           "head.ae_hidden=[16]", "head.ae_epochs=1", "head.ae_lr=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    dec = json.loads((out / "dec/seed-0/results.json").read_text())["runs"][0]
    assert dec["failed"].startswith("skipped: ae_kmeans failed on this seed: the autoencoder did not learn")
    assert json.loads((out / "ae_kmeans/seed-0/results.json").read_text())["runs"][0]["failed_in"] == "autoencoder"
    table = (out / "TABLE.md").read_text()
    assert "| ae_kmeans | 0 (+1 failed) |" in table and "| dec | 0 (+1 failed) |" in table


@pytest.mark.slow
def test_benchmark_keeps_running_a_seed_whose_failure_is_in_one_head(tmp_path):
    """A head that diverges (DEC at an absurd lr) fails alone: the seed's autoencoder was fine, so the next
    method of the seed still runs on it and is scored."""
    out = tmp_path / "bench"
    cmd = [sys.executable, str(REPO / "benchmarks/heads/run_heads.py"), "--out", str(out), "--seeds", "1",
           "--methods", "dec", "ae_kmeans", "--features", str(blob_file(tmp_path / "f.npz")), *FAST_AE,
           "dec.lr=1e30"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    dec = json.loads((out / "dec/seed-0/results.json").read_text())["runs"][0]
    assert dec["failed_in"] == "head" and "DEC" in dec["failed"] and "not finite" in dec["failed"]
    ae_kmeans = json.loads((out / "ae_kmeans/seed-0/results.json").read_text())["runs"][0]
    assert "failed" not in ae_kmeans and ae_kmeans["ae_cached"] and "acc" in ae_kmeans
    table = (out / "TABLE.md").read_text()
    assert "| dec | 0 (+1 failed) |" in table and "| ae_kmeans | 1 |" in table


@pytest.mark.slow
def test_benchmark_export_merges_seeds_without_local_paths(tmp_path):
    """run_heads.py --export writes what BENCHMARKS.md cites: every seed, the statistics and the settings."""
    out, dest = tmp_path / "bench", tmp_path / "results"
    cmd = [sys.executable, str(REPO / "benchmarks/heads/run_heads.py"), "--out", str(out), "--seeds", "2",
           "--methods", "ae_kmeans", "--features", str(blob_file(tmp_path / "f.npz")), *FAST_AE]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    cmd = [sys.executable, str(REPO / "benchmarks/heads/run_heads.py"), "--out", str(out), "--summarise-only",
           "--export", str(dest)]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO).returncode == 0
    exported = json.loads((dest / "ae_kmeans.json").read_text())
    assert [r["seed"] for r in exported["runs"]] == [0, 1] and exported["failed_seeds"] == []
    assert exported["acc"]["median"] == np.median([r["acc"] for r in exported["runs"]])
    assert exported["overrides"]["ae_hidden"] == [256, 64] and exported["params"]["ae_epochs"] == 3
    assert not any("ae_file" in r for r in exported["runs"])
    assert "| ae_kmeans | 2 |" in (dest / "TABLE.md").read_text()


@pytest.mark.slow
def test_raw_pixels_of_an_image_folder(tmp_path):
    """Two kinds of 12x12 grayscale images (bright top half vs. bright left half), one unreadable file."""
    rng = np.random.default_rng(0)
    for label, region in [("top", np.s_[:6, :]), ("left", np.s_[:, :6])]:
        (tmp_path / "f" / label).mkdir(parents=True)
        for i in range(20):
            img = rng.integers(0, 40, (12, 12), dtype=np.uint8)
            img[region] += 200
            Image.fromarray(img, mode="L").save(tmp_path / "f" / label / f"{i}.png")
    (tmp_path / "f/top/broken.png").write_bytes(b"not a png")
    proc = run_cli("--method", "kmeans", "--data", "imagefolder", "--data-root", str(tmp_path / "f"), "--k", "2",
                   "--seeds", "2", "--out", str(tmp_path / "km"))
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 unreadable image(s) of 41" in proc.stdout
    results = json.loads((tmp_path / "km/results.json").read_text())
    assert results["n"] == 40 and results["dim"] == 144  # one channel kept for grayscale images
    assert results["acc"]["median"] == 1.0


def _has_checkpoint_support() -> bool:
    try:
        from deepcluster.evaluation.frozen_features import extract_for_checkpoint  # noqa: F401
        from deepcluster.pretrained import make_checkpoint  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not (FMNIST.is_dir() and _has_checkpoint_support()), reason="needs Fashion-MNIST and the engine")
def test_checkpoint_features(tmp_path):
    import torch

    from deepcluster.config import load_config
    from deepcluster.models.network import build_network
    from deepcluster.pretrained import make_checkpoint

    cfg = load_config(REPO / "configs/fashion_mnist.yaml")
    torch.manual_seed(0)
    net = build_network(cfg.model, 1, 28, 10)
    torch.save(make_checkpoint(net, cfg, epoch=0), tmp_path / "random.pt")
    proc = run_cli("--method", "kmeans", "--data", "fashion_mnist", "--checkpoint", str(tmp_path / "random.pt"),
                   "--k", "10", "--limit", "500", "--out", str(tmp_path / "ck"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "ck/results.json").read_text())
    assert results["n"] == 500 and results["source"].startswith("checkpoint")
    assert results["acc"]["median"] > 0.2  # random conv features still carry some class signal


def test_every_step_says_what_it_does_with_sizes_and_shows_progress(tmp_path, caplog, capsys):
    """Loading, whitening and each seed's fit are logged with their sizes, and the long single calls (faiss's
    PCA, a k-means) show a clock, so a large run never sits silent."""
    import logging

    caplog.set_level(logging.INFO)
    cli = load_cli_module()
    cli.main(["--method", "kmeans", "--data", "fashion_mnist", "--features", str(blob_file(tmp_path / "f.npz")),
              "--normalise", "whiten:4", "--k", "3", "--seeds", "2", "--out", str(tmp_path / "out")])
    said = caplog.text
    for line in ("reading features file", "150 x 8 float32", "whiten:4: PCA with faiss on 150 x 8 features",
                 "whiten:4: PCA fitted in", "seed 0: fitting kmeans (k=3) on 150 x 4", "seed 1: done in"):
        assert line in said, line
    bars = capsys.readouterr().err
    assert "whiten:4 (faiss PCA of 8-d features): 00:00 elapsed" in bars and "seed 1: kmeans fit" in bars


def test_the_clock_ticks_while_one_long_call_runs(capsys):
    import time

    from deepcluster.cli.ticking import ticking

    with ticking("one long call", True, interval=0.02):
        time.sleep(0.3)  # releases the GIL, as faiss's calls do
    assert capsys.readouterr().err.count("one long call: 00:00 elapsed") >= 5


def test_k_auto_suggests_k_prints_and_records_it(tmp_path, capsys):
    """--k auto fits the Dirichlet-process mixture on the normalised input and clusters with what it keeps."""
    feats = blob_file(tmp_path / "f.npz", n_per=100, k=5)
    cli = load_cli_module()
    cli.main(["--method", "kmeans", "--data", "fashion_mnist", "--features", str(feats), "--k", "auto",
              "--seeds", "1", "--out", str(tmp_path / "out"), "--no-progress"])
    results = json.loads((tmp_path / "out/results.json").read_text())
    suggestion = results["k_suggestion"]
    assert results["k"] == suggestion["k"] and abs(suggestion["k"] - 5) <= 1
    assert (suggestion["n_fitted"], suggestion["n_total"], suggestion["max_k"]) == (500, 500, 50)
    assert len(results["runs"][0]["cluster_sizes"]) == suggestion["k"]
    assert f"--k auto: k={suggestion['k']} (share >= 3% of 500 sampled points" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_k_must_be_a_positive_number_or_auto(value, capsys):
    from deepcluster.cli import cluster as cluster_command

    with pytest.raises(SystemExit):
        cluster_command.parse_args(["--method", "kmeans", "--data", "fashion_mnist", "--k", value, "--out", "o"])
    assert "is not a number of clusters; give a positive integer or auto" in capsys.readouterr().err

"""launch/recipe.py: pretraining → features → head → scores in one resumable command."""

import pytest
import json
import os
import subprocess
import sys

from conftest import REPO

TINY = ["data.limit=400", "train.epochs=1", "cluster.k=20", "cluster.pca_dim=16", "model.width=8",
        "model.mlp_dim=32", "train.batch_size=64"]


def recipe(args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(REPO / "launch" / "recipe.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_recipe_runs_every_stage_on_two_processes_then_resumes_without_redoing_them(tmp_path):
    """With the default head (spectral clustering, balanced assignment) and its default settings."""
    out = tmp_path / "recipe"
    args = ["--out", str(out), "--nproc", "2", "--layer", "conv2", "--normalise", "whiten:8", "--seeds", "2", *TINY]
    first = recipe(args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = json.loads((out / "recipe_spectral.json").read_text())
    assert summary["k"] == 10 and summary["head"] == "spectral" and summary["layer"] == "conv2"
    assert summary["head_set"] == ["head.n_neighbors=10", "head.assign=balanced"]
    assert all(summary["stage_seconds"][s] > 0 for s in ("pretrain", "extract", "head"))
    assert 0.1 < summary["acc"]["mean"] <= 1.0 and 0.0 < summary["nmi"]["mean"] <= 1.0
    results = json.loads((out / "spectral" / "results.json").read_text())
    assert [r["seed"] for r in results["runs"]] == [0, 1] and results["normalise"] == "whiten:8"
    with __import__("numpy").load(out / "features_conv2.npz") as f:
        assert f["features"].shape[0] == 400  # the training subset, not the whole dataset

    again = recipe(args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "features_conv2.npz is up to date, skipped" in again.stdout and "results.json is up to date" in again.stdout
    assert json.loads((out / "recipe_spectral.json").read_text())["acc"] == summary["acc"]


@pytest.mark.slow
def test_recipe_refuses_bad_settings_before_any_work(tmp_path):
    for bad, message in [(["--normalise", "pca"], "whiten:D"), (["--layer", "conv9"], "choose from conv1"),
                         (["cluster.kk=3"], "cluster.kk")]:
        result = recipe(["--out", str(tmp_path / "r"), *bad, *TINY], timeout=120)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert not (tmp_path / "r").exists()

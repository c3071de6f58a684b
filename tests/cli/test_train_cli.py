"""launch/train.py refuses a bad config or a missing input once, before any work, with exit code 2."""

import os
import subprocess
import sys

import pytest

from conftest import REPO, run_torchrun
from deepcluster.cli.train import main
from deepcluster.config import ConfigError, load_config
from deepcluster.data.preflight import check_run_inputs

TINY = ["data.limit=300", "cluster.k=5", "cluster.pca_dim=8", "model.width=8", "model.mlp_dim=16", "train.epochs=1",
        "log.tensorboard=false"]


@pytest.mark.parametrize("overrides, message", [
    (["data.root=/nonexistent"], "data.root=/nonexistent does not exist; set data.root to the folder holding the IDX"),
    (["data.name=imagefolder", "data.root=/etc/hostname"], "data.root=/etc/hostname is a file"),
    (["data.name=cifar10", "data.root=/tmp"], "data.root=/tmp has no cifar-10-batches-py/ folder"),
    (["data.name=webdataset", "data.urls=/nonexistent/s-{000..002}.tar"], "3 of 3 shard files do not exist"),
    (["run_dir=/etc/hostname"], "run_dir=/etc/hostname is a file"),
])
def test_missing_inputs_are_named_by_their_key(tmp_path, overrides, message):
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}", *overrides])
    with pytest.raises(ConfigError) as err:
        check_run_inputs(cfg)
    assert message in str(err.value)


def test_an_idx_folder_without_the_files_says_which_are_missing(tmp_path):
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}", f"data.root={tmp_path}", "data.split=test"])
    with pytest.raises(ConfigError, match="lacks t10k-images-idx3-ubyte"):
        check_run_inputs(cfg)


def test_the_command_refuses_before_writing_anything(tmp_path, capsys, fashion_mnist_root):
    run_dir = tmp_path / "run"
    assert main([f"run_dir={run_dir}", "data.root=/nonexistent", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("config error:") == 1 and "data.root=/nonexistent" in err and "Traceback" not in err
    assert not run_dir.exists()


@pytest.mark.slow
def test_under_torchrun_the_error_is_printed_once(tmp_path, fashion_mnist_root):
    """Rank 0 says it; the other rank is silent (torchrun then adds its own summary of the exit codes)."""
    proc = run_torchrun([f"run_dir={tmp_path / 'run'}", "data.root=/nonexistent", *TINY], nproc=2)
    assert proc.returncode != 0
    assert proc.stderr.count("config error: data.root=/nonexistent does not exist") == 1
    assert "exitcode  : 2" in proc.stderr and "[rank1]" not in proc.stderr


@pytest.mark.slow
def test_the_launcher_checks_once_then_starts_the_workers(tmp_path, fashion_mnist_root):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "deepcluster.cli.train", "--nproc-per-node", "2"]
    refused = subprocess.run([*command, f"run_dir={tmp_path / 'bad'}", "train.lrr=1", *TINY], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stderr.count("config error:") == 1
    assert "Traceback" not in refused.stderr and "did you mean 'train.lr'" in refused.stderr
    ran = subprocess.run([*command, f"run_dir={tmp_path / 'run'}", *TINY], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "world_size=2" in ran.stderr and (tmp_path / "run" / "checkpoints" / "epoch_0000.pt").is_file()

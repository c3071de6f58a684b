"""A run survives every torn file: killed in the middle of any epoch-end write, or stopped by a full disk, it
resumes to the weights of a run that was never interrupted."""

import json
import os
import shutil

import pytest
import torch

from conftest import read_metrics, run_train, small_tmpfs
from deepcluster.atomic import KILL_AT_WRITE
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint

ARGS = ["data.limit=400", "cluster.k=8", "cluster.pca_dim=8", "train.batch_size=100", "model.width=8",
        "model.mlp_dim=16", "log.tensorboard=false", "train.epochs=2"]
# the writes of a 2-epoch run, in order: config.yaml, the metrics truncation, eval.json (random init), epoch 0's
# log line and checkpoint, epoch 1's log line and checkpoint, eval.json (final)
N_WRITES = 8


def final_state(run_dir):
    return load_checkpoint(list_checkpoints(run_dir / "checkpoints")[0])


def assert_same_run(a, b):
    sa, sb = final_state(a), final_state(b)
    assert sa["epoch"] == sb["epoch"] == 1
    for key in sa["model"]:
        assert torch.equal(sa["model"][key], sb["model"][key]), key
    assert [r["epoch"] for r in read_metrics(b)] == [0, 1]
    assert json.loads((b / "eval.json").read_text()).keys() == {"random_init", "final"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion_mnist_root):
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    proc = run_train([f"run_dir={run_dir}", *ARGS])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run_dir


def run_train_killed_at(run_dir, write):
    os.environ[KILL_AT_WRITE] = str(write)
    try:
        return run_train([f"run_dir={run_dir}", *ARGS])
    finally:
        del os.environ[KILL_AT_WRITE]


@pytest.mark.slow
@pytest.mark.parametrize("write", range(1, N_WRITES + 1))
def test_a_kill_in_the_middle_of_any_write_resumes_to_the_same_weights(tmp_path, uninterrupted, write):
    run_dir = tmp_path / "run"
    killed = run_train_killed_at(run_dir, write)
    assert killed.returncode == -9, f"write {write} was not reached: {killed.stderr[-1000:]}"
    resumed = run_train([f"run_dir={run_dir}", *ARGS])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr
    assert_same_run(uninterrupted, run_dir)
    assert not list(run_dir.rglob(".*.tmp")), "temporary files of the killed write are cleaned up"


@pytest.mark.slow
def test_a_torn_log_line_and_a_zeroed_eval_json_are_repaired(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    assert run_train([f"run_dir={run_dir}", *ARGS[:-1], "train.epochs=1"]).returncode == 0
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 1, "kmeans_loss": 12')  # what a kill during the append leaves
    (run_dir / "eval.json").write_bytes(b"")
    resumed = run_train([f"run_dir={run_dir}", *ARGS])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "dropping its last line" in resumed.stderr and "restored random_init from the checkpoint" in resumed.stderr
    assert_same_run(uninterrupted, run_dir)
    before = json.loads((uninterrupted / "eval.json").read_text())["random_init"]
    assert json.loads((run_dir / "eval.json").read_text())["random_init"] == before


@pytest.fixture
def small_disk(tmp_path):
    with small_tmpfs(tmp_path / "disk", "3m") as mount:
        yield mount


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_message_and_resumes_after_space_is_freed(small_disk, uninterrupted):
    run_dir = small_disk / "run"
    one_checkpoint = final_state(uninterrupted)
    size = (list_checkpoints(uninterrupted / "checkpoints")[0]).stat().st_size
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * (free - int(1.5 * size) - 64 * 1024))  # room for epoch 0's checkpoint, not epoch 1's
    stopped = run_train([f"run_dir={run_dir}", *ARGS])
    assert stopped.returncode == 75, stopped.stderr[-3000:]
    assert stopped.stderr.count("stopped: no space left on the device of") == 1 and "Traceback" not in stopped.stderr
    assert str(run_dir) in stopped.stderr and "free space there" in stopped.stderr
    assert [p.name for p in list_checkpoints(run_dir / "checkpoints")] == ["epoch_0000.pt"]
    assert not list(run_dir.rglob(".*.tmp"))
    filler.unlink()
    resumed = run_train([f"run_dir={run_dir}", *ARGS])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(uninterrupted, run_dir)
    assert final_state(run_dir)["epoch"] == one_checkpoint["epoch"]

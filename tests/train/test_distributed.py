"""Scale-out behaviour on CPU with gloo: distributed k-means, elastic restarts, two agents on one host."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, read_metrics, run_torchrun
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint

TINY = ["data.limit=3001", "cluster.k=30", "cluster.pca_dim=32", "model.width=8", "model.mlp_dim=32",
        "train.batch_size=128", "log.tensorboard=false"]


@pytest.mark.slow
def test_distributed_kmeans_reaches_the_gathered_objective(tmp_path, fashion_mnist_root):
    """Also with float16 host features on the sharded side: their blocks cross gloo and are whitened as float16."""
    gathered, sharded = tmp_path / "gather", tmp_path / "distributed"
    for run_dir, mode, dtype in ((gathered, "gather", "float32"), (sharded, "distributed", "float16")):
        proc = run_torchrun([f"run_dir={run_dir}", f"cluster.mode={mode}", f"cluster.feature_dtype={dtype}",
                             "train.epochs=1", *TINY], nproc=2)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"feature_dtype={dtype}" in proc.stderr
    a, b = read_metrics(gathered)[0], read_metrics(sharded)[0]
    assert abs(a["kmeans_loss"] - b["kmeans_loss"]) / a["kmeans_loss"] < 0.01
    assert b["cluster_size_min"] >= 1
    state = load_checkpoint(sharded / "checkpoints" / "epoch_0000.pt")
    assert state["assignments"].shape == (3001,) and int(state["assignments"].min()) >= 0


def _worker_pids(run_dir: Path, local_rank: str) -> list[int]:
    """PIDs of train.py workers of this run with the given LOCAL_RANK (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if "train.py" in cmdline and str(run_dir) in cmdline and f"LOCAL_RANK={local_rank}".encode() in environ \
                and "torchrun" not in cmdline and "torch.distributed.run" not in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_sigkill_of_a_worker_restarts_and_ends_with_the_uninterrupted_weights(tmp_path, fashion_mnist_root):
    args = [*TINY, "data.limit=6000", "train.epochs=4"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_torchrun([f"run_dir={straight}", *args], nproc=2).returncode == 0

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--max-restarts=2",
           str(REPO / "launch" / "train.py"), f"run_dir={killed}", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not (killed / "checkpoints" / "epoch_0000.pt").exists():  # epoch 1 is now under way
        assert time.time() < deadline and proc.poll() is None, "first checkpoint never appeared"
        time.sleep(0.05)
    victims = _worker_pids(killed, "1")
    assert victims, "no rank-1 worker found to kill"
    os.kill(victims[0], signal.SIGKILL)
    output, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, output[-3000:]
    assert "resuming from" in output

    a = load_checkpoint(list_checkpoints(straight / "checkpoints")[0])
    b = load_checkpoint(list_checkpoints(killed / "checkpoints")[0])
    assert a["epoch"] == b["epoch"] == 3
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [r["epoch"] for r in read_metrics(killed)] == [0, 1, 2, 3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_torchrun_agents_rendezvous_over_c10d_on_loopback(tmp_path, fashion_mnist_root):
    run_dir, port = tmp_path / "multinode", _free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
           "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=test",
           str(REPO / "launch" / "train.py"), f"run_dir={run_dir}", "train.epochs=1", *TINY]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    agents = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for _ in range(2)]
    outputs = [agent.communicate(timeout=300)[0] for agent in agents]
    assert all(agent.returncode == 0 for agent in agents), outputs[0][-2000:] + outputs[1][-2000:]
    assert "world_size=2" in "".join(outputs)
    assert read_metrics(run_dir)[0]["cluster_size_min"] >= 1

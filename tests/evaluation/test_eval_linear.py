"""Linear probes and k-NN on real Fashion-MNIST: frozen backbone, saved classifiers, 1 process == 2 processes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import REPO, run_train
from deepcluster.config import load_config
from deepcluster.data import build_source
from deepcluster.scores.knn import knn_accuracy
from deepcluster.models.taps import LayerTaps, resolve_layers
from deepcluster.evaluation.linear import assert_unchanged, frozen_snapshot
from deepcluster.evaluation.random_init import random_init_like, same_weights
from deepcluster.models import build_network
from deepcluster.models import FeatureExtractor
from deepcluster.pretrained import data_config, load_pretrained, make_checkpoint
from deepcluster.seeds import Purpose, stream_seed

LIMIT = "600"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, fashion_mnist_root):
    cfg = load_config(None, ["run_dir=unused", "model.width=8", "model.mlp_dim=32", f"data.root={fashion_mnist_root}"])
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(make_checkpoint(build_network(cfg.model, 1, 28, 10), cfg, epoch=-1), path)
    return path


def launch_main(name):
    """A launch/ script's main(), run in this process (saves a torch import per call)."""
    spec = importlib.util.spec_from_file_location(f"launch_{name}", REPO / "launch" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def eval_linear_torchrun(args, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(REPO / "launch" / "eval_linear.py"), *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_probe_one_and_two_processes_agree_and_classifiers_are_saved(tiny_checkpoint, tmp_path, capsys):
    common = ["--checkpoint", str(tiny_checkpoint), "--limit", LIMIT, "--epochs", "2", "--no-augment"]
    assert launch_main("eval_linear")([*common, "--out", str(tmp_path / "one")]) == 0
    printed = capsys.readouterr().out
    two = eval_linear_torchrun([*common, "--out", str(tmp_path / "two")], nproc=2)
    assert two.returncode == 0, two.stderr
    r1 = json.loads((tmp_path / "one" / "linear_eval.json").read_text())
    r2 = json.loads((tmp_path / "two" / "linear_eval.json").read_text())
    assert r2["world_size"] == 2 and r1["backbone_unchanged"] is True
    assert list(r1["linear"]) == ["conv1", "conv2", "conv3", "penultimate"]
    assert r1["n_train"] == r1["n_test"] == 600 and r1["n_classes"] == 10
    for layer, res in r1["linear"].items():
        assert res["n_test"] == 600 and 0.0 <= res["top1"] <= res["top5"] <= 1.0
        assert res["top1"] == pytest.approx(r2["linear"][layer]["top1"], abs=2 / 600)
    assert r1["linear"]["conv2"]["top1"] > 0.4  # 10 classes: well above chance even for random conv features
    assert r1["knn"]["top1"] == r2["knn"]["top1"] and r1["knn"]["k"] == 20 and 0.3 < r1["knn"]["top1"] <= 1.0
    w1, w2 = (load_file(str(tmp_path / run / "linear_probes.safetensors")) for run in ("one", "two"))
    assert set(w1) == {f"{layer}.{p}" for layer in r1["linear"] for p in ("weight", "bias")}
    for key in w1:
        torch.testing.assert_close(w1[key], w2[key], rtol=1e-4, atol=1e-6)

    # the random init of the same arch and seed, probed alike, beside the network: in the JSON and printed
    init1, init2 = r1["random_init"], r2["random_init"]
    assert init1["seed"] == 0 and init1["arch"] == "compact" and r1["random_init_note"] is None
    assert list(init1["linear"]) == list(r1["linear"]) and init1["backbone_unchanged"] is True
    for layer, res in init1["linear"].items():
        assert res["n_test"] == 600 and res["top1"] == pytest.approx(init2["linear"][layer]["top1"], abs=2 / 600)
    assert init1["knn"]["top1"] == init2["knn"]["top1"] and init1["knn"]["k"] == 20
    assert any(init1["linear"][layer]["top1"] != r1["linear"][layer]["top1"] for layer in r1["linear"])
    assert init1["knn"]["top1"] != r1["knn"]["top1"]
    assert set(load_file(init1["probes_file"])) == set(w1)
    table = {line.split()[0]: line.split() for line in printed.splitlines()[2:7]}
    for layer in r1["linear"]:  # layer, dims, random-init top-1, network top-1, change, top-5s
        assert table[layer][2:4] == [f"{100 * init1['linear'][layer]['top1']:.1f}",
                                     f"{100 * r1['linear'][layer]['top1']:.1f}"]
    assert "random init = the weights this run started from (compact, seed 0)" in printed

    # the saved classifiers reproduce the reported test accuracy from the file alone
    with safe_open(str(tmp_path / "one" / "linear_probes.safetensors"), "pt") as f:
        layers = json.loads(f.metadata()["layers"])
    pre = load_pretrained(tiny_checkpoint)
    taps = LayerTaps(pre.extractor.eval(), "compact", list(layers), 1, 28)
    assert {k: v["dims"] for k, v in layers.items()} == taps.dims
    test = build_source(data_config(pre, "fashion_mnist", None, "test", int(LIMIT)))
    images = next(test.batches(range(len(test)), len(test), train=False, seed=0, workers=0))[0]
    from deepcluster.data.augment import normalize

    with torch.no_grad():
        feats = taps(normalize(images, test.mean, test.std))
    for layer in layers:
        logits = feats[layer] @ w1[f"{layer}.weight"].T + w1[f"{layer}.bias"]
        top1 = (logits.argmax(1).numpy() == test.labels).mean()
        assert top1 == pytest.approx(r1["linear"][layer]["top1"], abs=1 / 600)


def test_probe_with_augmentation_on_export_dir_keeps_backbone_frozen(tiny_checkpoint, tmp_path):
    from deepcluster.export import export_backbone

    export_backbone(tiny_checkpoint, tmp_path / "exp", program=False)
    code = launch_main("eval_linear")([
        "--checkpoint", str(tmp_path / "exp"), "--data", "fashion_mnist", "--limit", "300", "--epochs", "1",
        "--layers", "conv3", "--knn-k", "0", "--out", str(tmp_path / "probe"), "--no-random-init",
    ])
    assert code == 0
    report = json.loads((tmp_path / "probe" / "linear_eval.json").read_text())
    assert list(report["linear"]) == ["conv3"] and report["knn"] is None and report["settings"]["augment"]
    assert report["random_init"] is None and "--no-random-init" in report["random_init_note"]
    assert not (tmp_path / "probe" / "linear_probes_random_init.safetensors").exists()


@pytest.mark.slow
def test_random_init_is_the_runs_own_initial_weights(tmp_path, fashion_mnist_root):
    """A real run whose learning rate is too small to move any weight: its parameters are still the
    initial ones, which ``random_init_like`` must rebuild from the stored config alone."""
    run_dir = tmp_path / "run"
    result = run_train(["--config", "configs/fashion_mnist.yaml", f"run_dir={run_dir}", "data.limit=300",
                        "cluster.k=5", "cluster.pca_dim=8", "model.width=8", "model.mlp_dim=32", "seed=3",
                        "train.epochs=1", "train.lr=1e-30", "log.tensorboard=false", "eval.knn_every=0"])
    assert result.returncode == 0, result.stderr
    run = load_pretrained(run_dir)
    state = torch.get_rng_state()
    init = random_init_like(run)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    params = dict(run.extractor.named_parameters())
    for name, p in init.extractor.named_parameters():
        torch.testing.assert_close(p, params[name], rtol=0, atol=1e-20)
    assert init.epoch == -1 and not same_weights(init.extractor, run.extractor)  # BN statistics did move
    other = random_init_like(replace(run, config=replace(run.config, seed=4)))
    assert not same_weights(other.extractor, init.extractor)  # the seed is the run's own


def test_a_network_that_is_its_own_random_init_is_probed_once(tmp_path, fashion_mnist_root):
    cfg = load_config(None, ["run_dir=unused", "model.width=8", "model.mlp_dim=32", f"data.root={fashion_mnist_root}"])
    torch.manual_seed(stream_seed(cfg.seed, Purpose.INIT))  # as benchmarks/eval/random_init.py
    torch.save(make_checkpoint(build_network(cfg.model, 1, 28, 100), cfg, epoch=-1), tmp_path / "init.pt")
    assert launch_main("eval_linear")(["--checkpoint", str(tmp_path / "init.pt"), "--limit", "300", "--epochs", "1",
                                       "--layers", "conv3", "--knn-k", "0", "--no-augment",
                                       "--out", str(tmp_path / "p")]) == 0
    report = json.loads((tmp_path / "p" / "linear_eval.json").read_text())
    assert report["random_init"] is None and "its own random init" in report["random_init_note"]


def test_bad_layer_name_is_refused_with_choices(tiny_checkpoint, tmp_path, capsys):
    code = launch_main("eval_linear")(["--checkpoint", str(tiny_checkpoint), "--layers", "conv9",
                                       "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "conv9" in err and "penultimate" in err


def test_frozen_guard_catches_bn_statistics_drift(tiny_checkpoint):
    pre = load_pretrained(tiny_checkpoint)
    snapshot = frozen_snapshot(pre.extractor)
    assert_unchanged(pre.extractor, snapshot)
    pre.extractor.train()(torch.randn(4, 1, 28, 28))  # train-mode forward updates BN running stats only
    pre.extractor.eval()
    with pytest.raises(RuntimeError, match="running_mean|running_var|num_batches"):
        assert_unchanged(pre.extractor, snapshot)


def test_layers_follow_the_alexnet_protocol_and_penultimate_is_the_clustered_feature():
    cfg = load_config(None, ["run_dir=unused", "model.arch=alexnet", "data.name=imagefolder", "data.root=unused"])
    net = build_network(cfg.model, 3, 224, 10).eval()
    taps = LayerTaps(FeatureExtractor.from_network(net), "alexnet", None, 3, 224)
    assert [taps.dims[f"conv{i}"] for i in range(1, 6)] == [9600, 9216, 9600, 9600, 9216]  # DeepCluster's RegLog
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(taps(x)["penultimate"], net.features(x))
    assert resolve_layers("resnet18", ["penultimate", "layer2"]) == ["layer2", "penultimate"]


def test_knn_weighted_vote():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 16))
    labels = np.repeat(np.arange(6), 50)
    train = centers[labels] + 0.05 * rng.normal(size=(300, 16))
    test = centers[labels[::5]] + 0.05 * rng.normal(size=(60, 16))
    result = knn_accuracy(train, labels, test, labels[::5], k=20)
    assert result["top1"] == 1.0 and result["top5"] == 1.0
    shuffled = knn_accuracy(train, rng.permutation(labels), test, labels[::5], k=20)
    assert shuffled["top1"] < 0.5

"""The shared autoencoder (autoencoder.py): weight init, SGD and bf16 pretraining, refusal of a collapsed or
diverged one, and the content-keyed cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from deepcluster.heads import ClusteringFailed, build_head
from deepcluster.heads.autoencoder import (AutoencoderCollapsed, AutoencoderFailed, cache_key,
                                           pretrained_autoencoder)

from .conftest import K, assert_written_atomically, blobs


def test_autoencoder_fan_in_init_is_bounded_and_a_bad_init_is_refused_before_any_work():
    from deepcluster.heads.autoencoder import Autoencoder

    ae = Autoencoder(784, (500, 2000), 10, init="fan_in")
    first = ae.encoder[0].weight
    assert first.abs().max() <= (1 / 784) ** 0.5 and first.abs().max() > 0.9 * (1 / 784) ** 0.5
    assert not torch.equal(first, Autoencoder(784, (500, 2000), 10, init="glorot").encoder[0].weight)
    with pytest.raises(ValueError, match="ae_init='he' is unknown; use one of glorot, fan_in"):
        build_head("dec", K, ae_init="he")


def test_autoencoder_sgd_pretraining_learns_and_is_its_own_cache_entry(tmp_path):
    """DEC-keras's recipe (fan_in init, SGD lr 1 momentum 0.9) trains, and is never confused with Adam's weights."""
    x, _ = blobs(40, seed=3)
    x = (x - x.min()) / (x.max() - x.min())
    settings = {"hidden": [32], "code_dim": 2, "epochs": 30, "lr": 1.0, "batch_size": 16, "init": "fan_in",
                "optimizer": "sgd"}
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    _, sgd = pretrained_autoencoder(x, settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert sgd["ae_mse"] < 0.5 * x.var(axis=0).mean()  # half the error of predicting the mean, or better
    torch.manual_seed(0)
    _, adam = pretrained_autoencoder(x, {**settings, "optimizer": "adam", "lr": 1e-2}, seed=0, device=cpu,
                                     cache_dir=tmp_path)
    torch.manual_seed(0)
    _, again = pretrained_autoencoder(x, settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert not adam["ae_cached"] and again["ae_cached"] and len(list(tmp_path.glob("ae-*.safetensors"))) == 2


def test_bf16_autoencoder_pretraining_learns_keeps_fp32_weights_and_is_its_own_cache_entry(tmp_path):
    """bfloat16 autocast (the 100-epoch recipe's speed-up on CPU) still trains; the stored weights stay fp32."""
    x, _ = blobs(40, seed=3)
    x = (x - x.min()) / (x.max() - x.min())
    settings = {"hidden": [32], "code_dim": 2, "epochs": 30, "lr": 1.0, "batch_size": 16, "init": "fan_in",
                "optimizer": "sgd", "precision": "bf16"}
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    ae, bf16 = pretrained_autoencoder(x, settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert bf16["ae_mse"] < 0.5 * x.var(axis=0).mean()
    assert all(p.dtype == torch.float32 for p in ae.parameters())
    torch.manual_seed(0)
    fp32_settings = {k: v for k, v in settings.items() if k != "precision"}  # as the heads write fp32
    _, fp32 = pretrained_autoencoder(x, fp32_settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert not fp32["ae_cached"] and len(list(tmp_path.glob("ae-*.safetensors"))) == 2
    assert fp32["ae_mse"] != bf16["ae_mse"]  # the same seed and batches, computed in another precision
    with pytest.raises(ValueError, match="ae_precision='fp16' is unknown; use one of fp32, bf16"):
        build_head("vade", K, ae_precision="fp16")


def test_an_autoencoder_no_better_than_the_mean_is_refused_and_not_cached(tmp_path):
    x, _ = blobs(40, seed=3)
    settings = {"hidden": [32], "code_dim": 2, "epochs": 1, "lr": 0.0, "batch_size": 16}
    with pytest.raises(AutoencoderCollapsed, match="did not learn: reconstruction MSE .* for predicting the mean"):
        pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert not list(tmp_path.glob("ae-*"))
    _, trained = pretrained_autoencoder(x, {**settings, "lr": 1e-2, "epochs": 20}, seed=0,
                                        device=torch.device("cpu"), cache_dir=tmp_path)
    assert trained["ae_mse"] < 0.9 * x.var(axis=0).mean()  # the same check passes a trained one
    # A collapsed autoencoder cached by an older version (before this check) is refused when read back.
    (path,) = tmp_path.glob("ae-*.safetensors")
    save_file(load_file(path), path, metadata={"mse": "1e3"})
    with pytest.raises(AutoencoderCollapsed, match="delete .* and retrain"):
        pretrained_autoencoder(x, {**settings, "lr": 1e-2, "epochs": 20}, seed=0, device=torch.device("cpu"),
                               cache_dir=tmp_path)


def test_a_diverged_autoencoder_fails_its_seed_and_is_not_cached(tmp_path):
    """NaN during pretraining is the shared autoencoder's failure (every head of the seed fails with it)."""
    x, _ = blobs(40, seed=3)
    settings = {"hidden": [32], "code_dim": 2, "epochs": 2, "lr": 1e30, "batch_size": 16}
    with pytest.raises(AutoencoderFailed, match="pretraining diverged: autoencoder loss is not finite"):
        pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert issubclass(AutoencoderFailed, ClusteringFailed) and not list(tmp_path.glob("ae-*"))


def test_autoencoder_cache_is_keyed_by_data_and_settings(tmp_path):
    x, _ = blobs(20, seed=1)
    settings = {"hidden": [16], "code_dim": 2, "epochs": 20, "lr": 1e-2, "batch_size": 8}
    _, first = pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    _, again = pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert not first["ae_cached"] and again["ae_cached"] and again["ae_file"] == first["ae_file"]
    _, other = pretrained_autoencoder(x, {**settings, "epochs": 21}, seed=0, device=torch.device("cpu"),
                                      cache_dir=tmp_path)
    _, shifted = pretrained_autoencoder(x + 1, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert not other["ae_cached"] and not shifted["ae_cached"]
    assert len(list(tmp_path.glob("ae-*.safetensors"))) == 3


def test_the_cache_file_is_written_atomically(tmp_path):
    x, _ = blobs(20, seed=1)
    settings = {"hidden": [16], "code_dim": 2, "epochs": 20, "lr": 1e-2, "batch_size": 8}
    _, info = pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    (path,) = tmp_path.glob("ae-*.safetensors")
    assert info["ae_file"] == str(path)
    assert_written_atomically(path)


def test_cache_keys_of_earlier_versions_still_match():
    """A cached autoencoder is found by its key: these keys are what the previous versions computed, so a
    cache filled before keeps serving (a 300-epoch SGD autoencoder costs hours of CPU)."""
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    settings = {"hidden": [500, 500, 2000], "code_dim": 10, "epochs": 20, "lr": 1e-3, "batch_size": 256,
                "seed": 0, "kind": "mse-adam-v1"}
    assert cache_key(x, settings) == "75d2abe00db2e34dd08d"


@pytest.mark.parametrize("lr", [1, 1.0, "1"], ids=["int", "float", "str"])
def test_a_whole_number_lr_is_keyed_as_before_however_it_is_typed(lr, tmp_path):
    """`ae_lr=1` runs (DEC-keras's SGD recipe) were cached with the int the command line gave; the head now
    stores 1.0, and still finds those files."""
    x, _ = blobs(40, seed=3)
    x = (x - x.min()) / (x.max() - x.min())
    head = build_head("ae_kmeans", K, 0, ae_hidden=[32], code_dim=2, ae_epochs=30, ae_lr=lr, ae_batch_size=16,
                      ae_init="fan_in", ae_optimizer="sgd")
    head.ae_cache = tmp_path
    head.fit(x)
    assert head.params["ae_lr"] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ae-66e2e678942c76388b01.safetensors"]

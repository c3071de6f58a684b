import pytest

from conftest import REPO, run_train
from deepcluster.config import ConfigError, check_against_data, load_config


def test_defaults_recipe_and_dotted_overrides(tmp_path):
    overrides = [f"run_dir={tmp_path}", "train.lr=0.2", "cluster.k=50", "data.limit=500"]
    cfg = load_config(REPO / "configs" / "fashion_mnist.yaml", overrides)
    assert (cfg.train.lr, cfg.cluster.k, cfg.data.limit, cfg.model.arch) == (0.2, 50, 500, "compact")


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=0.1", "unknown config key 'train.lrr'; valid keys under 'train': amp, batch_size"),
        ("bogus=1", "unknown config key 'bogus'"),
        ("model.arch=vgg16",
         "model.arch='vgg16' is not supported; choose one of: compact, alexnet, resnet18, resnet50"),
        ("data.name=svhn", "data.name='svhn' is not supported"),
        ("train.lr=fast", "train.lr='fast' must be of type float"),
        ("train.lr=0", "train.lr=0.0 must be > 0"),
        ("cluster.k=1", "cluster.k=1 must be >= 2"),
        ("train.batch_size=0", "train.batch_size=0 must be >= 1"),
        ("data.crop_min_scale=1.5", "data.crop_min_scale=1.5 must be in (0, 1]"),
        ("cluster.feature_dtype=bfloat16",
         "cluster.feature_dtype='bfloat16' is not supported; choose one of: float32, float16"),
        ("cluster.feature_dtype=16", "cluster.feature_dtype=16 must be of type str"),
        ("train", "not of the form key.sub=value"),
    ],
)
def test_bad_keys_and_values_name_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"run_dir={tmp_path}", override])
    assert message in str(err.value)


def test_values_a_user_types_are_read_as_meant(tmp_path):
    """Scientific notation is a float; 'off' is the amp mode, and still false for a boolean key."""
    cfg = load_config(None, [f"run_dir={tmp_path}", "train.weight_decay=1e-5", "train.lr=5e-2", "train.amp=off",
                             "log.tensorboard=off", "data.flip=yes"])
    assert (cfg.train.weight_decay, cfg.train.lr, cfg.train.amp) == (1e-5, 0.05, "off")
    assert cfg.log.tensorboard is False and cfg.data.flip is True


def test_feature_dtype_float16_is_accepted(tmp_path):
    cfg = load_config(None, [f"run_dir={tmp_path}", "cluster.feature_dtype=float16"])
    assert cfg.cluster.feature_dtype == "float16"


def test_runs_saved_before_a_key_existed_still_resume(tmp_path):
    """A checkpoint's config without a key added later (cluster.feature_dtype) resumes as its default."""
    from deepcluster.train.run_state import check_resume_compatible

    cfg = load_config(None, [f"run_dir={tmp_path}"])
    saved = cfg.to_dict()
    del saved["cluster"]["feature_dtype"]
    check_resume_compatible(saved, cfg)
    changed = load_config(None, [f"run_dir={tmp_path}", "cluster.feature_dtype=float16"])
    with pytest.raises(ConfigError, match="cluster.feature_dtype: 'float32' → 'float16'"):
        check_resume_compatible(saved, changed)


def test_imagefolder_needs_a_root(tmp_path):
    with pytest.raises(ConfigError, match="data.name=imagefolder needs data.root"):
        load_config(None, [f"run_dir={tmp_path}", "data.name=imagefolder"])


def test_k_larger_than_dataset_and_pca_larger_than_features_are_refused():
    cfg = load_config(None, ["run_dir=x", "cluster.k=500", "cluster.pca_dim=64"])
    with pytest.raises(ConfigError, match="cluster.k=500 is larger than the 300 samples"):
        check_against_data(cfg, n_samples=300, feature_dim=256)
    cfg = load_config(None, ["run_dir=x", "cluster.k=10", "cluster.pca_dim=512"])
    with pytest.raises(ConfigError, match="cluster.pca_dim=512 exceeds the 256-d features"):
        check_against_data(cfg, n_samples=3000, feature_dim=256)


@pytest.mark.slow
def test_launcher_refuses_before_any_work(tmp_path, fashion_mnist_root):
    run_dir = tmp_path / "run"
    proc = run_train([f"run_dir={run_dir}", "data.limit=50", "cluster.k=100"])
    assert proc.returncode == 2
    assert "cluster.k=100 is larger than the 50 samples" in proc.stderr
    assert not run_dir.exists(), "nothing may be written for a refused config"
    proc = run_train([f"run_dir={run_dir}", "train.epochz=3"])
    assert proc.returncode == 2 and "unknown config key 'train.epochz'" in proc.stderr

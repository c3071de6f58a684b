"""Run configuration: a typed schema, YAML files, dotted command-line overrides, strict validation.

Defaults live in the dataclasses below (pydantic dataclasses: typed, unknown keys refused); a YAML recipe
overrides them; ``key.sub=value`` arguments override the recipe (timm's order). Unknown keys and impossible
values are refused before any work starts, with a message naming the key and what is allowed (torchvision
references refuse unknown options too: a typo must never silently train the wrong model).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from .atomic import write_text_atomic

DATASETS = ("fashion_mnist", "mnist", "cifar10", "imagefolder", "webdataset")
ARCHS = ("compact", "alexnet", "resnet18", "resnet50")
SPLITS = ("all", "train", "test", "fit", "val")
AMP_MODES = ("auto", "off", "bf16", "fp16")
CLUSTER_MODES = ("gather", "distributed")
FEATURE_DTYPES = ("float32", "float16")


class ConfigError(ValueError):
    """A configuration the run cannot use; the message says which key and how to fix it."""


# pydantic checks types (and converts "1e-5" to a float for a float key); unknown keys are refused
dataclass = pydantic_dataclass(config=ConfigDict(extra="forbid"))


@dataclass
class DataConfig:
    name: str = "fashion_mnist"  # one of DATASETS
    root: Optional[str] = None  # None: the Debian Fashion-MNIST files for fashion_mnist
    urls: Optional[str] = None  # webdataset: shard paths, brace patterns allowed (data/s-{000000..000099}.tar)
    split: str = "all"  # all = train + test (70,000 for Fashion-MNIST); fit / val = train less / only its last 10,000
    limit: Optional[int] = None  # keep only the first N samples (smoke runs)
    image_size: Optional[int] = None  # None: 28 (MNIST), 32 (CIFAR); folders: the size their images share, else 224
    crop_min_scale: Optional[float] = None  # crop area range [this, 1]; None: 0.08 (>=96 px), 0.3 (small)
    flip: bool = True  # random horizontal flip during training


@dataclass
class ModelConfig:
    arch: str = "compact"  # one of ARCHS
    sobel: bool = True  # fixed grayscale + Sobel filters in front of the backbone (paper)
    width: int = 32  # compact net only: channels of its first conv (then 2x, 4x)
    mlp_dim: int = 256  # compact net only: width of the MLP whose output is clustered


@dataclass
class ClusterConfig:
    k: int = 100  # number of k-means clusters (= pseudo-classes)
    pca_dim: int = 64  # PCA-whitened dimension fed to k-means
    niter: int = 20  # k-means iterations (paper: 20)
    reassign_every: int = 1  # re-cluster every N epochs (paper: 1)
    mode: str = "gather"  # gather: k-means on rank 0; distributed: features stay sharded over ranks
    pca_sample: int = 100000  # distributed mode: points sampled over all ranks to fit the PCA
    feature_dtype: str = "float32"  # float16 halves the host memory of extracted features (ImageNet: 21 -> 10.5 GB)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-5
    workers: int = 2  # data-loading processes per rank (image folders); in-memory sets need none
    amp: str = "auto"  # auto: bf16 on CUDA, off on CPU
    channels_last: bool = True  # NHWC activations: pays on CUDA and on CPU oneDNN convolutions
    sync_bn: bool = False  # synchronise BatchNorm statistics across GPUs (CUDA only)


@dataclass
class EvalConfig:
    """The k-NN monitor (deepcluster.scores.knn_monitor); labels only score, never steer."""

    knn_every: int = 1  # k-NN top-1 every N epochs and at epoch 0 (the random-init baseline); 0 = off
    knn_k: int = 20  # neighbours that vote (DINO: 20)
    knn_temperature: float = 0.07  # vote weight exp(cosine / T) (DINO: 0.07)


@dataclass
class CheckpointConfig:
    keep: int = 3  # how many epoch checkpoints to keep


@dataclass
class LogConfig:
    tensorboard: bool = True
    image_grid_clusters: int = 8  # clusters shown in the TensorBoard image grid each epoch


@dataclass
class Config:
    run_dir: str = ""
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------------
# building from nested dicts: pydantic validates, the messages are ours
# ----------------------------------------------------------------------------------------------------
_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
REMOVED_KEYS = {("train", "log_every")}  # keys of older versions, dropped when their configs are read back


_WORDS = {"yes", "no", "on", "off", "y", "n"}  # YAML 1.1 booleans; kept as text (train.amp=off is a mode)


def parse_scalar(raw: str) -> Any:
    """A command-line value as YAML reads it, except that ``1e-5`` is a float (YAML 1.1 wants ``1.0e-5``) and
    yes / no / on / off stay words (a bool key still accepts them: pydantic reads them as booleans)."""
    if not raw.strip():
        return None
    if raw.strip().lower() in _WORDS:
        return raw.strip()
    value = yaml.safe_load(raw)
    if isinstance(value, str) and _FLOAT.match(value.strip()):
        return float(value)
    return value


def _section(cls: type, loc: tuple) -> tuple[type, str]:
    """The dataclass that holds the field at ``loc`` and its dotted prefix."""
    prefix = []
    for part in loc[:-1]:
        hints = typing.get_type_hints(cls)
        if part not in hints or not dataclasses.is_dataclass(hints[part]):
            break
        cls = hints[part]
        prefix.append(str(part))
    return cls, ".".join(prefix)


def _type_name(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return getattr(args[0] if args else annotation, "__name__", str(annotation))


def _config_error(err: ValidationError, root: type) -> ConfigError:
    """The first problem pydantic found, said as a user would fix it."""
    problem = err.errors()[0]
    loc = tuple(str(part) for part in problem["loc"])
    key, value = ".".join(loc), problem.get("input")
    cls, prefix = _section(root, loc)
    names = [f.name for f in dataclasses.fields(cls)]
    if problem["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        where = f"under '{prefix}'" if prefix else "at the top level"
        close = difflib.get_close_matches(loc[-1], names, n=1)
        hint = f" (did you mean '{'.'.join(filter(None, (prefix, close[0])))}'?)" if close else ""
        return ConfigError(f"unknown config key '{key}'; valid keys {where}: {', '.join(sorted(names))}{hint}")
    annotation = typing.get_type_hints(cls).get(loc[-1])
    if annotation is not None and dataclasses.is_dataclass(annotation):
        return ConfigError(f"'{key}' is a section; set its keys as {key}.<name>=<value>")
    return ConfigError(f"{key}={value!r} must be of type {_type_name(annotation)}")


def drop_removed_keys(values: dict[str, Any]) -> dict[str, Any]:
    values = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for section, key in REMOVED_KEYS:
        if isinstance(values.get(section), dict):
            values[section].pop(key, None)
    return values


def _build(values: dict[str, Any]) -> Config:
    try:
        return Config(**values)
    except ValidationError as err:
        raise _config_error(err, Config) from None
    except TypeError as err:  # a section given where the top level expects a mapping
        raise ConfigError(f"the config must be a mapping of keys ({err})") from None


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set '{dotted}': '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["train.lr=0.1", "data.root=/x"]`` into a nested dict; values are parsed by ``parse_scalar``."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value (e.g. train.lr=0.1)")
        _set_dotted(tree, key.strip(), parse_scalar(raw))
    return tree


def split_section(items: list[str], section: str) -> tuple[dict[str, Any], list[str]]:
    """``section.name=value`` items as {name: parsed value}, and the other items untouched.

    Commands with a second set of settings (a clustering head's hyperparameters) take them in the same
    dotted syntax as the training config: ``head.n_neighbors=10 train.epochs=3``.
    """
    picked: dict[str, Any] = {}
    rest = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not key.startswith(section + "."):
            rest.append(item)
            continue
        name = key[len(section) + 1:].strip()
        if not sep or not name or "." in name:
            raise ConfigError(f"{item!r} is not of the form {section}.<name>=<value> (e.g. {section}.max_iter=200)")
        picked[name] = parse_scalar(raw)
    return picked, rest


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults ← YAML file ← dotted overrides, then validated."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; recipes live in configs/")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of config keys, not {type(loaded).__name__}")
        values = loaded
    values = _merge(values, parse_overrides(overrides or []))
    cfg = _build(values)
    validate(cfg)
    return cfg


def config_from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a validated Config from ``Config.to_dict()`` output (checkpoints, run dirs, even older ones)."""
    cfg = _build(drop_removed_keys(values))
    validate(cfg)
    return cfg


# ----------------------------------------------------------------------------------------------------
# validation of values that are impossible whatever the data
# ----------------------------------------------------------------------------------------------------
def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not supported; choose one of: {', '.join(allowed)}")


def _positive(key: str, value: float | int | None, minimum: float = 1, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value < minimum:
        raise ConfigError(f"{key}={value!r} must be >= {minimum}")


def validate(cfg: Config) -> None:
    if not cfg.run_dir:
        raise ConfigError("run_dir is not set; pass run_dir=runs/<name> (a new folder, or an old one to resume)")
    _choice("data.name", cfg.data.name, DATASETS)
    _choice("data.split", cfg.data.split, SPLITS)
    _choice("model.arch", cfg.model.arch, ARCHS)
    _choice("train.amp", cfg.train.amp, AMP_MODES)
    _choice("cluster.mode", cfg.cluster.mode, CLUSTER_MODES)
    _choice("cluster.feature_dtype", cfg.cluster.feature_dtype, FEATURE_DTYPES)
    if cfg.data.name == "imagefolder" and not cfg.data.root:
        raise ConfigError("data.name=imagefolder needs data.root=<folder of images>")
    if cfg.data.name == "webdataset" and not cfg.data.urls:
        raise ConfigError("data.name=webdataset needs data.urls=<shards, e.g. shards/train-{000000..000009}.tar>")
    if cfg.data.name == "webdataset" and cfg.data.limit:
        raise ConfigError("data.limit is not supported with data.name=webdataset; point data.urls at fewer shards")
    if cfg.data.name in ("mnist", "cifar10") and not cfg.data.root:
        raise ConfigError(f"data.name={cfg.data.name} needs data.root=<folder holding the dataset files>")
    _positive("data.limit", cfg.data.limit, allow_none=True)
    _positive("data.image_size", cfg.data.image_size, 8, allow_none=True)
    if cfg.data.crop_min_scale is not None and not 0.0 < cfg.data.crop_min_scale <= 1.0:
        raise ConfigError(f"data.crop_min_scale={cfg.data.crop_min_scale} must be in (0, 1]")
    _positive("model.width", cfg.model.width)
    _positive("model.mlp_dim", cfg.model.mlp_dim)
    _positive("cluster.k", cfg.cluster.k, 2)
    _positive("cluster.pca_dim", cfg.cluster.pca_dim)
    _positive("cluster.niter", cfg.cluster.niter)
    _positive("cluster.reassign_every", cfg.cluster.reassign_every)
    _positive("cluster.pca_sample", cfg.cluster.pca_sample, cfg.cluster.pca_dim + 1)
    _positive("train.epochs", cfg.train.epochs)
    _positive("train.batch_size", cfg.train.batch_size)
    _positive("train.workers", cfg.train.workers, 0)
    if not cfg.train.lr > 0:
        raise ConfigError(f"train.lr={cfg.train.lr} must be > 0 (paper: 0.05)")
    if not 0 <= cfg.train.momentum < 1:
        raise ConfigError(f"train.momentum={cfg.train.momentum} must be in [0, 1) (paper: 0.9)")
    if cfg.train.weight_decay < 0:
        raise ConfigError(f"train.weight_decay={cfg.train.weight_decay} must be >= 0 (paper: 1e-5)")
    _positive("eval.knn_every", cfg.eval.knn_every, 0)
    _positive("eval.knn_k", cfg.eval.knn_k)
    if not cfg.eval.knn_temperature > 0:
        raise ConfigError(f"eval.knn_temperature={cfg.eval.knn_temperature} must be > 0 (DINO: 0.07)")
    _positive("checkpoint.keep", cfg.checkpoint.keep)
    _positive("log.image_grid_clusters", cfg.log.image_grid_clusters, 0)


def check_against_data(cfg: Config, n_samples: int, feature_dim: int) -> None:
    """Refuse settings that the dataset or the network make impossible (before any training)."""
    if cfg.cluster.k > n_samples:
        raise ConfigError(
            f"cluster.k={cfg.cluster.k} is larger than the {n_samples:,} samples in the dataset; "
            f"lower cluster.k or raise data.limit"
        )
    if cfg.cluster.pca_dim > feature_dim:
        raise ConfigError(
            f"cluster.pca_dim={cfg.cluster.pca_dim} exceeds the {feature_dim}-d features of "
            f"model.arch={cfg.model.arch}; set cluster.pca_dim <= {feature_dim}"
        )
    if cfg.cluster.pca_dim > n_samples:
        raise ConfigError(
            f"cluster.pca_dim={cfg.cluster.pca_dim} exceeds the {n_samples:,} samples: PCA needs more "
            f"points than dimensions; lower cluster.pca_dim or raise data.limit"
        )


def save_config(cfg: Config, path: str | Path) -> None:
    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

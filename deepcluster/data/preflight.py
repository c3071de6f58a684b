"""Every input a run needs, checked before any process starts work, each failure naming its key and the fix.

A run that dies in data loading prints one traceback per rank, often far from the setting that caused it;
these checks read only directory listings and file names, so they cost nothing next to the run.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config, ConfigError, DataConfig
from .idx import DEBIAN_FASHION_MNIST, SPLIT_FILES, find_idx_file

_REMOTE = ("pipe:", "http://", "https://", "s3://", "gs://")  # shard URLs that cannot be checked from here


def check_data_inputs(cfg: DataConfig) -> None:
    if cfg.name in ("fashion_mnist", "mnist"):
        _check_idx_root(cfg)
    elif cfg.name == "cifar10":
        root = _existing_folder(cfg.root, "the folder holding cifar-10-batches-py/")
        if not (root / "cifar-10-batches-py").is_dir():
            raise ConfigError(f"data.root={cfg.root} has no cifar-10-batches-py/ folder; point data.root at the "
                              "folder that holds it (torchvision's CIFAR10 layout; nothing is downloaded)")
    elif cfg.name == "imagefolder":
        _existing_folder(cfg.root, "a folder of images (class sub-folders optional)")
    elif cfg.name == "webdataset":
        from .shards import expand_shards  # webdataset is imported only for shard runs

        local = [url for url in expand_shards(cfg.urls) if not url.startswith(_REMOTE)]
        missing = [url for url in local if not Path(url).is_file()]
        if missing:
            raise ConfigError(f"data.urls={cfg.urls}: {len(missing)} of {len(local)} shard files do not exist "
                              f"(first: {missing[0]}); fix the pattern or write the shards with launch/make_shards.py")


def check_run_inputs(cfg: Config) -> None:
    """The data, and a run directory that can be one."""
    check_data_inputs(cfg.data)
    run_dir = Path(cfg.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run_dir={cfg.run_dir} is a file; pass a new folder, or an old run's folder to resume")


def _existing_folder(root: str | None, what: str) -> Path:
    if not root or not Path(root).is_dir():
        state = "is not set" if not root else ("is a file" if Path(root).exists() else "does not exist")
        raise ConfigError(f"data.root={root} {state}; set data.root to {what}")
    return Path(root)


def _check_idx_root(cfg: DataConfig) -> None:
    splits = ("train", "test") if cfg.split in ("all", "fit", "val") else (cfg.split,)
    if cfg.root is None and not DEBIAN_FASHION_MNIST.is_dir():
        raise ConfigError(f"data.name={cfg.name} reads {DEBIAN_FASHION_MNIST} by default, which is missing; install "
                          "it (apt-get install -y dataset-fashion-mnist) or set data.root to a folder of IDX files")
    root = _existing_folder(cfg.root, "the folder holding the IDX files") if cfg.root else DEBIAN_FASHION_MNIST
    for split in splits:
        for stem in SPLIT_FILES[split]:
            try:
                find_idx_file(root, stem)
            except FileNotFoundError as err:
                where = f"data.root={cfg.root}" if cfg.root else str(root)
                raise ConfigError(f"{where} lacks {stem}[.gz] for data.split={cfg.split} ({err}); point data.root "
                                  "at the folder with the four IDX files") from None

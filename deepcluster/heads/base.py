"""The contract every clustering head keeps: fit, predict, save, load, and input checks.

A head is a clustering method run on frozen features (raw pixels or a backbone's features). Its
hyperparameters are the keyword arguments of its ``__init__`` (``hyperparameters.py`` checks their names and
types), kept in ``self.params`` as plain JSON values; its learned state is a flat dict of tensors, so ``save``
writes ``config.json`` + ``weights.safetensors`` and nothing is ever unpickled on load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from safetensors.torch import load_file, save

from ..atomic import write_bytes_atomic, write_json_atomic
from .hyperparameters import as_int, check_names, coerce, signature_defaults

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


class ClusteringFailed(RuntimeError):
    """A fit that produced no usable clustering (it diverged, collapsed or did not converge), found without
    labels. Raised instead of returning labels; ``launch/cluster.py`` records the seed as failed and goes on."""


class TrainingDiverged(ClusteringFailed, FloatingPointError):
    """A training quantity went NaN/Inf."""


def check_features(features: Any, *, k: int | None = None, what: str = "features") -> np.ndarray:
    """Return ``features`` as a C-contiguous float32 (N, d) array, or raise an error that names the fix.

    NaN/Inf values are refused here rather than left to surface later as a NaN loss or an all-zero label
    vector: a clustering of corrupted inputs would look like a (bad) result instead of a bug.
    """
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (N, d) array, got shape {x.shape}; flatten images first")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {x.shape})")
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{what} must be numeric, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"{what} holds NaN or Inf in {len(bad_rows)} of {len(x)} rows (first: {bad_rows[:5].tolist()}); "
            "re-extract the features or drop those rows before clustering"
        )
    if k is not None and k > len(x):
        raise ValueError(f"k={k} is larger than the {len(x)} samples; lower --k or raise --limit")
    return x


def check_finite(name: str, value: torch.Tensor, hint: str) -> None:
    """Raise TrainingDiverged when a training quantity went NaN/Inf, instead of training on garbage."""
    if not torch.isfinite(value).all():
        raise TrainingDiverged(f"{name} is not finite; {hint}")


class ClusteringHead:
    """Base class: subclasses set ``method``, pass their keyword arguments on to ``__init__`` unconverted and
    implement ``_fit``, ``_predict``, ``_tensors``, ``_restore``."""

    method: ClassVar[str] = ""
    # Hyperparameters a subclass takes through **params rather than by name (the autoencoder's), with defaults.
    shared_hyperparameters: ClassVar[dict[str, Any]] = {}
    # Names that heads saved by earlier versions may hold but that only shaped training (options since
    # removed): dropped on load, since the saved state predicts the same without them.
    retired_hyperparameters: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, k: int, seed: int = 0, **params: Any) -> None:
        defaults = self.hyperparameters()
        check_names(self.method, defaults, params)
        k = as_int(self.method, "k", k)
        if k < 1:
            raise ValueError(f"k must be a positive number of clusters, got {k}")
        self.params: dict[str, Any] = {
            "k": k, "seed": as_int(self.method, "seed", seed),
            **{name: coerce(self.method, name, value, defaults[name]) for name, value in params.items()}}
        self.input_dim: int | None = None
        self.device = torch.device("cpu")
        self.progress = False
        self.info: dict[str, Any] = {}  # timings and diagnostics of the last fit (JSON-able)

    @classmethod
    def hyperparameters(cls) -> dict[str, Any]:
        """Every valid hyperparameter name (besides k and seed) with its default."""
        return {**cls.shared_hyperparameters, **signature_defaults(cls)}

    @property
    def k(self) -> int:
        return self.params["k"]

    @property
    def seed(self) -> int:
        return self.params["seed"]

    # ---- public API ------------------------------------------------------------------------------
    def fit(self, features: np.ndarray) -> "ClusteringHead":
        """Fit on (N, d) features. Randomness comes only from ``seed``; the global RNGs are left untouched."""
        x = check_features(features, k=self.k)
        self.input_dim = x.shape[1]
        cuda_devices = []
        if self.device.type == "cuda":  # manual_seed seeds CUDA too: restore the head's GPU generator as well
            cuda_devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(self.seed)
            self._fit(x)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Cluster index (N,) int64 of each row, including points never seen during ``fit``."""
        if self.input_dim is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load() first")
        x = check_features(features)
        if x.shape[1] != self.input_dim:
            raise ValueError(f"features have {x.shape[1]} dims but the head was fitted on {self.input_dim}")
        with torch.no_grad():
            labels = np.asarray(self._predict(x), dtype=np.int64)
        if len(labels) and not 0 <= labels.min() <= labels.max() < self.k:  # e.g. faiss's -1 for a NaN query
            raise ClusteringFailed(f"{type(self).__name__} predicted labels outside 0..{self.k - 1}")
        return labels

    def fit_predict(self, features: np.ndarray) -> np.ndarray:
        return self.fit(features).predict(features)

    def to(self, device: str | torch.device) -> "ClusteringHead":
        self.device = torch.device(device)
        return self

    def save(self, directory: str | Path) -> None:
        """Write weights.safetensors, then config.json, each atomically (``deepcluster.atomic``)."""
        if self.input_dim is None:
            raise RuntimeError("cannot save an unfitted head")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {name: t.detach().cpu().contiguous() for name, t in self._tensors().items()}
        write_bytes_atomic(directory / WEIGHTS_FILE, save(tensors))
        config = {"format_version": FORMAT_VERSION, "method": self.method, "input_dim": self.input_dim,
                  "params": self.params}
        write_json_atomic(directory / CONFIG_FILE, config)

    @classmethod
    def load(cls, directory: str | Path) -> "ClusteringHead":
        directory = Path(directory)
        config = read_config(directory)
        if cls.method and config["method"] != cls.method:
            raise ValueError(f"{directory} holds a {config['method']!r} head, not {cls.method!r}")
        head = cls(**{k: v for k, v in config["params"].items() if k not in cls.retired_hyperparameters})
        head.input_dim = int(config["input_dim"])
        head._restore(load_file(directory / WEIGHTS_FILE))
        return head

    # ---- subclass hooks --------------------------------------------------------------------------
    def _fit(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _tensors(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError


def read_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{directory} is not a saved head (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    config = json.loads(path.read_text())
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {config.get('format_version')} is not {FORMAT_VERSION}")
    return config

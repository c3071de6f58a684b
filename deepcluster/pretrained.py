"""Pretrained networks as users meet them: a checkpoint file, a run directory or an export directory.

Every consumer of a trained network (linear probes, k-NN, feature files, inspection, the clustering
heads) needs the same three things: the frozen feature extractor in eval mode, the image size and
channels it was trained on, and the training config. ``load_pretrained`` answers all three for the
three places a network can live, so no script re-implements checkpoint parsing. Nothing here unpickles
arbitrary objects: checkpoints are read with ``weights_only=True`` and exports from safetensors + JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import logging
import re
import warnings
import zipfile

import numpy as np
import torch

from .config import Config, ConfigError, DataConfig, config_from_dict
from .data import ImageSource, build_source
from .data.build import NATIVE_SIZE
from .models import DeepClusterNet, FeatureExtractor, build_network
from .models.export_format import CARD_NAME, PROGRAM_NAME, WEIGHTS_NAME, load_backbone
from .train.checkpoint import list_checkpoints, load_checkpoint

log = logging.getLogger(__name__)


@dataclass
class Pretrained:
    """A loaded network and what it was trained with."""

    extractor: FeatureExtractor  # eval mode, on CPU
    config: Config  # the training config
    channels: int  # image channels the network expects (before Sobel)
    image_size: int  # input size it was trained at
    epoch: int  # last finished epoch (-1: never trained, e.g. a random-init reference)
    metrics: dict[str, Any] = field(default_factory=dict)
    assignments: np.ndarray | None = None  # the checkpoint's cluster ids (None for exports)
    path: Path | None = None  # the checkpoint file or export directory actually read
    kind: str = "checkpoint"  # "checkpoint" or "export"
    raw_config: dict[str, Any] = field(default_factory=dict)  # the config exactly as stored

    @property
    def run_dir(self) -> Path | None:
        """The run directory a checkpoint sits in (``RUN/checkpoints/epoch_XXXX.pt``), if any."""
        if self.kind == "checkpoint" and self.path is not None and self.path.parent.name == "checkpoints":
            return self.path.parent.parent
        return None


def input_channels(model_state: dict[str, torch.Tensor], sobel: bool) -> int:
    """Image channels a saved network expects: read from Sobel's grayscale weights or the first conv."""
    if sobel:
        return int(model_state["sobel.grayscale"].shape[1])
    for key, tensor in model_state.items():  # state dicts follow registration order: first conv first
        if key.startswith("backbone.") and tensor.ndim == 4:
            return int(tensor.shape[1])
    raise ValueError("cannot find the first convolution in the checkpoint's backbone weights")


class NotACheckpoint(ValueError):
    """A file given as a checkpoint that is not one; the message is one line saying what it is instead."""

    def __init__(self, file: Path, what: str):
        hint = (f"it belongs to an export: pass its directory {file.parent}" if file.name in EXPORT_FILES else
                "pass a file from RUN/checkpoints/ (or written by deepcluster.pretrained.make_checkpoint), "
                "a run directory or an export directory")
        super().__init__(f"{file} is not a deepcluster checkpoint ({what}); {hint}")
        self.file = file


EXPORT_FILES = (CARD_NAME, WEIGHTS_NAME, PROGRAM_NAME)


def _what_it_is(file: Path, err: Exception) -> str:
    """A short description of a file ``torch.load(weights_only=True)`` refused, from its first bytes."""
    try:
        with open(file, "rb") as f:
            head = f.read(4096)
    except OSError as bad:
        return f"unreadable: {bad.strerror}"
    if not head:
        return "an empty file"
    if zipfile.is_zipfile(file):
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
        if not any(n.endswith("/data.pkl") for n in names):
            listed = f"{len(names)} entries, e.g. {names[0]}" if len(names) > 1 else ", ".join(names) or "empty"
            return f"a zip archive ({listed}), not a torch file"
    objects = re.search(r"GLOBAL ([\w.]+)", str(err))
    if objects:
        return (f"it holds Python objects such as {objects.group(1)}; checkpoints hold only tensors, dicts, lists and "
                "numbers, and are read with weights_only=True so that no pickled code runs")
    if head.startswith(b"PK"):
        return f"a damaged or truncated torch/zip file ({type(err).__name__})"
    if head.startswith(b"\x80"):
        return "a Python pickle that is not a torch checkpoint"
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError as bad:  # a multi-byte character cut at 4096 bytes is still text
            if bad.start >= len(head) - 4:
                return "a text file"
    return f"a binary file torch cannot read ({type(err).__name__})"


INFERENCE_SECTIONS = ("run_dir", "seed", "data", "model", "cluster")


def training_config(values: dict[str, Any], where: Path) -> Config:
    """The stored training config, validated by today's schema.

    A checkpoint written before a training-only option changed (``train.*``, ``checkpoint.*``, ``log.*``)
    must still load: those sections cannot change the network, so when they no longer validate they are
    dropped (with a warning) and only data, model and cluster settings are kept.
    """
    try:
        return config_from_dict(values)
    except ConfigError as err:
        kept = {k: v for k, v in values.items() if k in INFERENCE_SECTIONS}
        cfg = config_from_dict(kept)  # still raises when the model or data settings themselves are invalid
        log.warning("%s: training-only settings no longer validate (%s); ignoring them, the network is unaffected",
                    where, err)
        return cfg


def trained_image_size(cfg: Config) -> int:
    return cfg.data.image_size or NATIVE_SIZE[cfg.data.name]


def _checkpoint_file(path: Path) -> Path:
    if path.is_dir():
        found = list_checkpoints(path / "checkpoints") or list_checkpoints(path)
        if not found:
            raise FileNotFoundError(f"{path} holds no {CARD_NAME} (export) and no checkpoints/epoch_XXXX.pt "
                                    "(run); pass a checkpoint file, a run directory or an export directory")
        return found[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass a checkpoint file, a run directory "
                                "or an export directory")
    return path


def load_pretrained(path: str | Path) -> Pretrained:
    """Load a checkpoint file, the newest checkpoint of a run directory, or an export directory."""
    path = Path(path)
    if path.is_dir() and (path / CARD_NAME).is_file():
        extractor = load_backbone(path)
        card = extractor.card
        return Pretrained(extractor, training_config(card["training_config"], path), card["input"]["channels"],
                          card["input"]["size"], card["epoch"], card.get("metrics", {}), None, path, "export",
                          card["training_config"])
    file = _checkpoint_file(path)
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol warnings are noise next to our one line
            warnings.simplefilter("ignore")
            state = load_checkpoint(file)
    except Exception as err:  # weights_only refuses pickled objects: say what the file is, not torch's advice
        raise NotACheckpoint(file, _what_it_is(file, err)) from None
    if not isinstance(state, dict):
        raise NotACheckpoint(file, f"a torch file holding a {type(state).__name__}, not a checkpoint's dict")
    missing = [k for k in ("model", "config", "epoch") if k not in state]
    if missing or not isinstance(state["model"], dict) or "top_layer.weight" not in state["model"]:
        what = f"it lacks {missing}" if missing else "its 'model' entry is not a DeepClusterNet state dict"
        raise NotACheckpoint(file, what)
    cfg = training_config(state["config"], file)
    model_state = state["model"]
    channels = input_channels(model_state, cfg.model.sobel)
    size = trained_image_size(cfg)
    net = build_network(cfg.model, channels, size, int(model_state["top_layer.weight"].shape[0]))
    try:
        net.load_state_dict(model_state)
    except RuntimeError as err:
        raise ValueError(f"{file}: weights do not match model {cfg.model} ({err})") from err
    assignments = state.get("assignments")
    return Pretrained(FeatureExtractor.from_network(net).eval(), cfg, channels, size, int(state["epoch"]),
                      dict(state.get("metrics") or {}), None if assignments is None else assignments.numpy(),
                      file, "checkpoint", state["config"])


def make_checkpoint(net: DeepClusterNet, cfg: Config, epoch: int, metrics: dict | None = None,
                    assignments: np.ndarray | None = None) -> dict[str, Any]:
    """A checkpoint-shaped dict (readable by ``load_pretrained``) for networks not made by launch/train.py:
    random-init and supervised references, test fixtures. Plain tensors and dicts only (weights_only)."""
    state: dict[str, Any] = {"format": 1, "epoch": int(epoch), "config": cfg.to_dict(),
                             "model": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                             "metrics": dict(metrics or {})}
    if assignments is not None:
        state["assignments"] = torch.as_tensor(np.asarray(assignments, dtype=np.int64))
    return state


def data_config(pre: Pretrained, name: str | None = None, root: str | None = None, split: str | None = None,
                limit: int | None = None) -> DataConfig:
    """Data settings to feed ``pre``: its training data unless ``name`` is given, always at its input size."""
    trained = pre.config.data
    if name is None:
        name, root = trained.name, root or trained.root
        limit = limit if limit is not None else trained.limit
    return DataConfig(name=name, root=root, split=split or trained.split, limit=limit, image_size=pre.image_size,
                      crop_min_scale=trained.crop_min_scale, flip=trained.flip)


def build_checked_source(pre: Pretrained, cfg: DataConfig) -> ImageSource:
    """The dataset, refused early when its channels cannot go through the network."""
    if cfg.name in ("mnist", "cifar10") and not cfg.root:
        raise ConfigError(f"data {cfg.name} needs a root folder (--data-root)")
    # a network trained on colour images reads a grayscale folder as RGB (R = G = B), as it was trained to
    source = build_source(cfg, channels=3 if pre.channels == 3 and cfg.name == "imagefolder" else None)
    if source.channels != pre.channels:
        raise ConfigError(f"the network was trained on {pre.channels}-channel images but {cfg.name} has "
                          f"{source.channels} channels; evaluate it on data like its training set "
                          f"({pre.config.data.name})")
    return source


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")

"""Linear probes on a frozen backbone: DeepCluster's eval_linear protocol (Caron et al. 2018, Sec. 4.2).

The backbone stays in eval mode (BatchNorm uses its running statistics) and is never updated; one linear
classifier per probed layer (pooled as in ``layers.py``) is trained on the labelled train split with SGD,
momentum 0.9, lr 0.01 decayed as lr0 / sqrt(1 + lr0·wd·t) (t = step), weight decay 1e-4, and scored on
the test split (top-1; top-5 with >= 5 classes). All probes share one backbone pass per batch.
Afterwards every backbone tensor, BN running statistics included, is compared with a snapshot taken
before training: a probe that moved the backbone is not a linear probe, so that fails loudly.

Under torchrun each global batch is split over the ranks and the probe gradients are summed across
ranks before the step, so N processes compute the same update as one process with the same global batch.
Unlike the reference (whose saved "classifier" holds the backbone), the classifiers are saved.

A score needs its baseline: by default the same probes (same settings, probe seed and data) are also
trained on the network's random init, the weights its run started from (``random_init.py``), and the
report holds both (``linear``/``knn`` for the network, ``random_init`` for the reference).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save

from .. import dist
from ..atomic import write_bytes_atomic, write_json_atomic
from ..config import ConfigError, TrainConfig
from ..data import ImageSource, default_crop_min_scale
from ..data.augment import random_resized_crop_flip
from ..features import extract_features
from ..pretrained import Pretrained, build_checked_source, data_config, load_pretrained
from ..runtime import Runtime, progress, select_runtime
from ..seeds import Purpose, numpy_rng, stream_seed, torch_generator
from ..scores.knn import knn_accuracy
from ..models.taps import DEFAULT_TARGET_DIMS, LayerTaps
from .random_init import describe_random_init, random_init_like, same_weights

log = logging.getLogger("deepcluster.eval")


@dataclass
class ProbeSettings:
    layers: list[str] | None = None  # None: every layer of the architecture
    epochs: int = 90  # protocol: 90
    batch_size: int = 256  # global, split over ranks
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    augment: bool = True  # random-resized-crop + flip on the train split, as the protocol
    target_dims: int = DEFAULT_TARGET_DIMS
    knn_k: int = 20  # 0 disables the k-NN score
    random_init: bool = True  # also probe the run's initial weights (same arch, seed, settings): twice the cost
    seed: int = 0
    workers: int = 0
    amp: str = "off"


# ---------------------------------------------------------------------------------------------------
# frozen-backbone guard
# ---------------------------------------------------------------------------------------------------
def frozen_snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer (BN running mean/var and batch counters included)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_unchanged(module: nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
    current = module.state_dict()
    changed = [k for k, v in snapshot.items() if k not in current or not torch.equal(current[k], v)]
    if changed or module.training:
        raise RuntimeError(f"the frozen backbone changed during probing ({len(changed)} tensors, e.g. {changed[:4]}; "
                           f"training mode={module.training}); the probe result is invalid. Something put the "
                           "backbone in train mode or gave its parameters to the optimizer")


def freeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


# ---------------------------------------------------------------------------------------------------
# probes, training, evaluation
# ---------------------------------------------------------------------------------------------------
def build_probes(dims: dict[str, int], n_classes: int, seed: int) -> nn.ModuleDict:
    """One Linear(dims, classes) per layer, weights N(0, 0.01), bias 0, identical on every rank."""
    generator = torch_generator(seed, Purpose.PROBE_INIT)
    probes = nn.ModuleDict({name: nn.Linear(d, n_classes) for name, d in dims.items()})
    with torch.no_grad():
        for probe in probes.values():
            probe.weight.copy_(torch.randn(probe.weight.shape, generator=generator) * 0.01)
            probe.bias.zero_()
    return probes


def protocol_lr(lr0: float, weight_decay: float, step: int) -> float:
    return lr0 / math.sqrt(1.0 + lr0 * weight_decay * step)


def _epoch_plan(n: int, batch_size: int, seed: int, epoch: int) -> tuple[np.ndarray, list[int]]:
    """This rank's indices for the epoch (its share of every global batch, concatenated) and the
    global size of each batch (the loss divisor, so ranks together compute the one-process mean)."""
    world, rank = dist.world_size(), dist.rank()
    if batch_size % world:
        raise ConfigError(f"--batch-size {batch_size} is not divisible by the {world} processes; use a multiple")
    order = numpy_rng(seed, Purpose.PROBE_ORDER, epoch).permutation(n)
    mine, sizes = [], []
    for start in range(0, n, batch_size):
        chunk = order[start:start + batch_size]
        lo, hi = dist.shard_bounds(len(chunk), rank, world)
        mine.append(chunk[lo:hi])
        sizes.append(len(chunk))
    return np.concatenate(mine), sizes


def _sum_gradients_over_ranks(params: list[nn.Parameter]) -> None:
    if dist.world_size() == 1:
        return
    flat = dist.all_reduce_sum(torch.cat([p.grad.flatten() for p in params]))
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))
        offset += p.numel()


@torch.no_grad()
def cache_layer_features(taps: LayerTaps, source: ImageSource, runtime: Runtime,
                         s: ProbeSettings) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every tapped layer's features of the whole train split, in float16 on the host, and which
    samples decoded (unreadable images are left out of training, as in the streaming path).

    Without augmentation an image's features never change, so they are computed once and each probe
    epoch costs only its matrix products (90 epochs in minutes on a CPU instead of hours). Every rank
    holds the full cache, since each epoch's shuffle gives a rank arbitrary samples.
    """
    n = len(source)
    cached = {name: torch.zeros(n, dims, dtype=torch.float16) for name, dims in taps.dims.items()}
    decoded = torch.zeros(n, dtype=torch.bool)
    log.info("caching %s features of %d images (%.2f GB float16) for probes without augmentation",
             ", ".join(taps.layers), n, n * sum(taps.dims.values()) * 2 / 1e9)
    batches = source.batches(range(n), s.batch_size, train=False, seed=0, workers=s.workers)
    for images, idx in progress(batches, total=-(-n // s.batch_size), desc="probe features"):
        with runtime.autocast():
            feats = taps(runtime.prepare(images, source.mean, source.std))
        for name, f in feats.items():
            cached[name][idx] = f.float().cpu().to(torch.float16)
        decoded[idx] = True
    return cached, decoded


def train_probes(taps: LayerTaps, probes: nn.ModuleDict, source: ImageSource, runtime: Runtime,
                 s: ProbeSettings, crop_min_scale: float) -> list[dict]:
    """SGD on the probes only; returns one row per epoch (mean train loss summed over layers, seconds)."""
    params = list(probes.parameters())
    optimizer = torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    labels = torch.as_tensor(source.labels, dtype=torch.int64)
    world_batch = s.batch_size // dist.world_size()
    step, history = 0, []
    cached, decoded = (None, None) if s.augment else cache_layer_features(taps, source, runtime, s)
    for epoch in range(s.epochs):
        t0 = time.perf_counter()
        indices, sizes = _epoch_plan(len(source), s.batch_size, s.seed, epoch)
        augment_seed = stream_seed(s.seed, Purpose.PROBE_AUGMENT, epoch, dist.rank())
        generator = torch.Generator(device=runtime.device).manual_seed(augment_seed)
        if cached is None:
            batches = iter(source.batches(indices, world_batch, train=s.augment, seed=augment_seed,
                                          workers=s.workers))
        else:
            chunks = (torch.as_tensor(indices[i:i + world_batch]) for i in range(0, len(indices), world_batch))
            batches = iter((None, idx[decoded[idx]]) for idx in chunks)  # unreadable images are skipped
        loss_sum = torch.zeros((), dtype=torch.float64)
        probes.train()
        taps.extractor.eval()
        for global_size in progress(sizes, total=len(sizes), desc=f"probe epoch {epoch}"):
            batch = next(batches, None)
            if batch is None:  # this rank's share of the last batch is empty: contribute zero gradients
                loss = sum(p.sum() * 0.0 for p in params)
            else:
                images, idx = batch
                if cached is None:
                    x = runtime.prepare(images, source.mean, source.std)
                    if s.augment and source.augment_on_device:
                        x = random_resized_crop_flip(x, generator, crop_min_scale, flip=True)
                    with torch.no_grad(), runtime.autocast():
                        feats = taps(x)
                else:
                    feats = {name: f[idx].to(runtime.device) for name, f in cached.items()}
                targets = labels[idx].to(runtime.device)
                loss = sum(F.cross_entropy(probes[name](f.float()), targets, reduction="sum")
                           for name, f in feats.items()) / global_size
            for group in optimizer.param_groups:
                group["lr"] = protocol_lr(s.lr, s.weight_decay, step)
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            _sum_gradients_over_ranks(params)
            optimizer.step()
            loss_sum += float(loss.detach()) * global_size
            step += 1
        total = float(dist.all_reduce_sum(loss_sum.to(runtime.device)).cpu()) / len(source)
        history.append({"epoch": epoch, "train_loss": total / len(probes), "seconds": time.perf_counter() - t0,
                        "lr": protocol_lr(s.lr, s.weight_decay, step)})
        log.info("probe epoch %d: mean train loss per layer %.4f (%.1fs)", epoch, history[-1]["train_loss"],
                 history[-1]["seconds"])
    return history


@torch.no_grad()
def evaluate_probes(taps: LayerTaps, probes: nn.ModuleDict, source: ImageSource, runtime: Runtime,
                    batch_size: int, workers: int, n_classes: int) -> dict[str, dict[str, float]]:
    """Top-1 / top-5 of every probe on ``source``; each rank scores its block, counts are summed."""
    probes.eval()
    lo, hi = dist.shard_bounds(len(source), dist.rank(), dist.world_size())
    counts = torch.zeros(len(probes), 3, dtype=torch.float64)  # correct@1, correct@5, seen
    labels = torch.as_tensor(source.labels, dtype=torch.int64)
    top = min(5, n_classes)
    batches = source.batches(range(lo, hi), batch_size, train=False, seed=0, workers=workers)
    for images, idx in progress(batches, total=-(-(hi - lo) // batch_size), desc="probe test"):
        with runtime.autocast():
            feats = taps(runtime.prepare(images, source.mean, source.std))
        targets = labels[idx].to(runtime.device)
        for row, name in enumerate(probes):
            best = probes[name](feats[name].float()).topk(top, dim=1).indices
            hits = best == targets[:, None]
            counts[row] += torch.tensor([hits[:, 0].sum().item(), hits.any(dim=1).sum().item(), len(idx)],
                                        dtype=torch.float64)
    counts = dist.all_reduce_sum(counts.to(runtime.device)).cpu()
    results = {}
    for row, name in enumerate(probes):
        seen = max(float(counts[row, 2]), 1.0)
        results[name] = {"top1": float(counts[row, 0]) / seen, "n_test": int(counts[row, 2])}
        if n_classes >= 5:
            results[name]["top5"] = float(counts[row, 1]) / seen
    return results


# ---------------------------------------------------------------------------------------------------
# the whole evaluation: probes + k-NN, saved on rank 0
# ---------------------------------------------------------------------------------------------------
def _splits(pre, data_name, data_root, test_root, limit):
    """(train, test) sources: the train/test splits of torchvision-style sets, or two image folders."""
    name = data_name or pre.config.data.name
    if name == "imagefolder":
        if not (data_root and test_root):
            raise ConfigError("linear probes on image folders need --data-root TRAIN_FOLDER "
                              "and --test-root TEST_FOLDER")
        train_cfg = data_config(pre, name, data_root, "train", limit)
        test_cfg = data_config(pre, name, test_root, "test", limit)
    else:
        root = data_root if data_name else (data_root or pre.config.data.root)
        train_cfg, test_cfg = (data_config(pre, name, root, split, limit) for split in ("train", "test"))
    train, test = build_checked_source(pre, train_cfg), build_checked_source(pre, test_cfg)
    for split, source in (("train", train), ("test", test)):
        if source.labels is None:
            raise ConfigError(f"the {split} data ({name}) has no labels; linear probes need class labels "
                              "(image folders: one subfolder per class)")
    return train, test, train_cfg


def save_probes(path: Path, probes: nn.ModuleDict, taps: LayerTaps, n_classes: int, checkpoint: str) -> Path:
    """Classifier weights as safetensors (``{layer}.weight``/``.bias``); pooling in the metadata."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in probes.state_dict().items()}
    meta = {"layers": json.dumps(taps.describe()), "n_classes": str(n_classes), "checkpoint": str(checkpoint),
            "arch": taps.arch, "pooling": "AdaptiveAvgPool2d(pool_side) then flatten; pool_side 0 = no pooling"}
    write_bytes_atomic(path, save(tensors, metadata=meta))
    return path


@dataclass
class ProbeRun:
    scores: dict  # linear, knn, history, time_probe_s, time_knn_s (knn only on rank 0)
    probes: nn.ModuleDict
    taps: LayerTaps


def probe_network(pre: Pretrained, train_src: ImageSource, test_src: ImageSource, n_classes: int, runtime: Runtime,
                  s: ProbeSettings, crop_min_scale: float, name: str = "") -> ProbeRun:
    """Linear probes on every chosen layer of ``pre``'s frozen extractor, then the k-NN score."""
    extractor = freeze(pre.extractor)
    taps = LayerTaps(extractor, pre.config.model.arch, s.layers, pre.channels, pre.image_size,
                     s.target_dims).to(runtime.device)
    snapshot = frozen_snapshot(extractor)
    probes = build_probes(taps.dims, n_classes, s.seed).to(runtime.device)
    log.info("probing %s of %s on %d train / %d test images: %s", ", ".join(taps.layers),
             name or f"{pre.path} (epoch {pre.epoch})", len(train_src), len(test_src), taps.describe())
    t0 = time.perf_counter()
    history = train_probes(taps, probes, train_src, runtime, s, crop_min_scale)
    assert_unchanged(extractor, snapshot)
    results = evaluate_probes(taps, probes, test_src, runtime, s.batch_size, s.workers, n_classes)
    time_probe = time.perf_counter() - t0
    knn, t0 = None, time.perf_counter()
    if s.knn_k:
        train_f, train_ok = extract_features(extractor, train_src, runtime, s.batch_size, s.workers)
        test_f, test_ok = extract_features(extractor, test_src, runtime, s.batch_size, s.workers)
        if dist.is_main():
            knn = knn_accuracy(train_f[train_ok], train_src.labels[train_ok], test_f[test_ok],
                               test_src.labels[test_ok], k=s.knn_k)
    assert_unchanged(extractor, snapshot)
    return ProbeRun({"linear": results, "knn": knn, "history": history, "time_probe_s": time_probe,
                     "time_knn_s": time.perf_counter() - t0}, probes, taps)


def run_linear_eval(checkpoint: str, out_dir: str | Path, s: ProbeSettings, device: torch.device,
                    data_name: str | None = None, data_root: str | None = None, test_root: str | None = None,
                    limit: int | None = None) -> dict | None:
    """Probe every chosen layer and score k-NN, for the network and (``s.random_init``) for the weights its
    run started from, under the same settings; rank 0 writes OUT/linear_eval.json and the probes and
    returns the report (other ranks return None)."""
    out_dir = Path(out_dir)
    pre = load_pretrained(checkpoint)
    train_src, test_src, train_cfg = _splits(pre, data_name, data_root, test_root, limit)
    n_classes = int(max(train_src.labels.max(), test_src.labels.max())) + 1
    runtime = select_runtime(TrainConfig(amp=s.amp), device)
    crop_min_scale = default_crop_min_scale(train_cfg, train_src.image_size)
    trained = probe_network(pre, train_src, test_src, n_classes, runtime, s, crop_min_scale)
    baseline, baseline_note = None, "skipped (--no-random-init)"
    if s.random_init:
        init = random_init_like(pre)
        if same_weights(init.extractor, pre.extractor):
            baseline_note = "not probed again: the network is its own random init (never trained)"
            log.info("the network has exactly the random-init weights of its seed; %s", baseline_note)
        else:
            baseline = probe_network(init, train_src, test_src, n_classes, runtime, s, crop_min_scale,
                                     f"the random-init reference (the same {pre.config.model.arch} with the "
                                     f"initial weights of seed {pre.config.seed})")
            baseline_note = None
    report = None
    if dist.is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        probes_file = save_probes(out_dir / "linear_probes.safetensors", trained.probes, trained.taps, n_classes,
                                  pre.path)
        report = {"checkpoint": str(pre.path), "checkpoint_epoch": pre.epoch, "arch": pre.config.model.arch,
                  "sobel": pre.config.model.sobel, "data": train_cfg.name, "n_train": len(train_src),
                  "n_test": len(test_src), "n_classes": n_classes, "world_size": dist.world_size(),
                  "settings": asdict(s), "layers": trained.taps.describe(), **trained.scores,
                  "backbone_unchanged": True, "probes_file": str(probes_file),
                  "random_init": None, "random_init_note": baseline_note}
        if baseline is not None:
            path = save_probes(out_dir / "linear_probes_random_init.safetensors", baseline.probes, baseline.taps,
                               n_classes, f"random init of {pre.path}")
            report["random_init"] = {**describe_random_init(pre), **baseline.scores, "backbone_unchanged": True,
                                     "probes_file": str(path)}
        write_json_atomic(out_dir / "linear_eval.json", report)
    dist.barrier()
    return report

"""The DeepCluster loop (Caron et al., ECCV 2018), one function in banner-separated stages.

Every epoch: extract features of the whole dataset → PCA-whiten, L2, faiss k-means, re-seed empty
clusters → re-initialise the top layer → train one epoch on pseudo-labels sampled uniformly over
clusters → log, checkpoint. Every random draw of an epoch is seeded from (seed, epoch), so a resumed
run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from .. import dist
from ..atomic import DiskFull, write_text_atomic
from ..config import Config, ConfigError, check_against_data, save_config
from ..data import build_held_out_source, build_source, default_crop_min_scale
from ..scores.knn_monitor import knn_top1, plan_knn
from ..features import extract_local
from ..metrics import ari, nmi, purity
from ..models import build_network
from ..runtime import select_runtime
from ..sampling import rank_slice, shard_epoch_plan, uniform_cluster_indices
from ..seeds import Purpose, numpy_rng, stream_seed, torch_generator
from ..visualize import cluster_grid
from .clustering_step import cluster_dataset, label_scores, sync_device
from .checkpoint import load_latest_checkpoint, save_checkpoint
from .epoch import train_one_epoch
from .run_log import KNN_KEYS, MetricsLog, TensorBoardLog, summary_table
from .run_state import (build_optimizer, capture_rng, check_resume_compatible, reclusters, reset_top_layer,
                        restore_rng)

log = logging.getLogger("deepcluster")


def run(cfg: Config) -> list[dict]:
    """Train (or resume) the run described by ``cfg``; returns the metrics rows on rank 0."""
    # ---------------- process group, fast paths ----------------
    device = dist.init_distributed()
    runtime = select_runtime(cfg.train, device, cfg.cluster.feature_dtype)
    run_dir = Path(cfg.run_dir)
    log.info("start-up: %s", runtime.describe())

    # ---------------- data ----------------
    source = build_source(cfg.data)
    crop_min_scale = default_crop_min_scale(cfg.data, source.image_size)
    labelled = source.labels is not None
    if source.streaming:
        source.check_split(dist.world_size(), cfg.train.workers)
    log.info("data: %s, %d samples, %d px, %s", cfg.data.name, len(source), source.image_size,
             "labelled" if labelled else "unlabelled (label metrics skipped)")
    knn_plan = None
    if labelled and cfg.eval.knn_every > 0:
        knn_plan = plan_knn(source, build_held_out_source(cfg.data), cfg.data.split)
        log.info("k-NN monitor (k=%d, T=%g, every %d epoch(s)): %s", cfg.eval.knn_k, cfg.eval.knn_temperature,
                 cfg.eval.knn_every, knn_plan.description if knn_plan else "off (too few samples to split)")

    # ---------------- network, optimizer ----------------
    torch.manual_seed(stream_seed(cfg.seed, Purpose.INIT))  # same initial weights on every rank and run
    net = build_network(cfg.model, source.channels, source.image_size, cfg.cluster.k)
    check_against_data(cfg, len(source), net.feature_dim)
    net = net.to(device, memory_format=torch.channels_last if runtime.channels_last else torch.preserve_format)
    optimizer = build_optimizer(net, cfg.train)
    scaler = torch.amp.GradScaler(device.type) if runtime.amp_dtype == torch.float16 else None

    # ---------------- run directory, resume ----------------
    metrics_log = MetricsLog(run_dir / "metrics.jsonl")
    start_epoch, assignments = 0, None
    resumed = load_latest_checkpoint(run_dir / "checkpoints")
    if resumed is not None:
        state, path = resumed
        check_resume_compatible(state["config"], cfg)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng(state["rng"])
        if scaler is not None and "grad_scaler" in state:  # fp16: the loss scale and its growth tracker
            scaler.load_state_dict(state["grad_scaler"])
        start_epoch = state["epoch"] + 1
        assignments = state["assignments"].numpy()
        log.info("resuming from %s (epoch %d done)", path, state["epoch"])
    failure = None
    if dist.is_main():
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            _remove_stale_temps(run_dir)
            save_config(cfg, run_dir / "config.yaml")
            metrics_log.truncate_after(start_epoch - 1)
            if resumed is not None:
                _restore_eval(run_dir, resumed[0].get("eval"))
        except DiskFull as err:
            failure = err
    _stop_together(failure, device)
    tensorboard = TensorBoardLog(run_dir / "tb") if dist.is_main() and cfg.log.tensorboard else None
    model = _wrap_for_ddp(net, cfg, device)
    known_unreadable = 0
    disk_full: DiskFull | None = None

    # ---------------- the DeepCluster loop ----------------
    for epoch in range(start_epoch, cfg.train.epochs):
        torch.manual_seed(stream_seed(cfg.seed, Purpose.DROPOUT, epoch, dist.rank()))  # dropout etc.
        row: dict = {"epoch": epoch}
        recluster = reclusters(epoch, cfg.cluster.reassign_every, assignments is not None)

        # -- features of the whole dataset, k-means, assignments on every rank --
        time_extract = time_cluster = 0.0
        n_empty, kmeans_loss, previous, clusters = 0, None, assignments, None
        knn_due = knn_plan is not None and epoch % cfg.eval.knn_every == 0
        if recluster:
            clusters = cluster_dataset(net, source, runtime, cfg, epoch, taps=knn_due)
            assignments = clusters.assignments
            time_extract, time_cluster = clusters.time_extract_s, clusters.time_cluster_s
            n_empty, kmeans_loss = clusters.n_empty, clusters.loss

        # -- k-NN monitor on the features this epoch starts from (epoch 0: the random-init network) --
        knn, time_knn = None, 0.0
        if knn_due:
            t0 = time.perf_counter()
            local = clusters.local if recluster else _extract_taps(net, source, runtime, cfg)
            knn = knn_top1(net, source, knn_plan, local, runtime, cfg.eval, cfg.train.batch_size, cfg.train.workers)
            time_knn = time.perf_counter() - t0
        if recluster and epoch == 0 and labelled:  # epoch-0 features are those of the random-init network
            scores, _ = label_scores(net, source, runtime, cfg, clusters)
            _record_eval(run_dir, "random_init", scores, knn, knn_plan)
        if clusters is not None:
            clusters.local = None  # this rank's copy of the features: not held through training
        if recluster:
            if dist.is_main() and (~clusters.valid).sum() > known_unreadable:
                known_unreadable = _report_unreadable(source, clusters.valid, run_dir)
            reset_top_layer(net, optimizer, torch_generator(cfg.seed, Purpose.TOP_LAYER, epoch))

        # -- one epoch on pseudo-labels sampled uniformly over clusters --
        train_seed = stream_seed(cfg.seed, Purpose.AUGMENT, epoch, dist.rank())
        batches, n_batches = _training_batches(source, assignments, cfg, epoch, train_seed)
        sync_device(device)
        t0 = time.perf_counter()
        train_loss, seen = train_one_epoch(model, source, batches, n_batches, assignments, optimizer, runtime,
                                           train_seed, crop_min_scale, cfg.data.flip, scaler)
        sync_device(device)
        time_train = time.perf_counter() - t0

        # -- metrics, checkpoint, logs (rank 0) --
        if dist.is_main():
            row.update(_cluster_metrics(assignments, previous, source.labels, cfg.cluster.k, recluster))
            row.update(knn or {})
            row.update(kmeans_loss=kmeans_loss, train_loss=train_loss, n_empty=n_empty, reclustered=recluster,
                       time_extract_s=time_extract, time_cluster_s=time_cluster, time_knn_s=time_knn,
                       time_train_s=time_train,
                       train_images_per_s=seen * dist.world_size() / max(time_train, 1e-9))
            state = {
                "format": 1, "epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                "assignments": torch.from_numpy(assignments), "rng": capture_rng(), "config": cfg.to_dict(),
                "metrics": {k: v for k, v in row.items() if isinstance(v, (int, float, bool)) or v is None},
            }
            if scaler is not None:
                state["grad_scaler"] = scaler.state_dict()
            try:  # the log line first: a checkpoint then always has its row (a crash between loses neither)
                metrics_log.append(row)
                state["eval"] = _read_eval(run_dir)  # so a lost eval.json can be rebuilt on resume
                save_checkpoint(state, run_dir / "checkpoints", epoch, cfg.checkpoint.keep)
            except DiskFull as err:
                disk_full = err
            if tensorboard is not None and disk_full is None:
                sizes = np.bincount(assignments[assignments >= 0], minlength=cfg.cluster.k)
                grid = _grid(source, clusters, cfg, epoch) if clusters is not None else None
                tensorboard.epoch(row, sizes, grid)
            log.info(_format_row(row))
        _stop_together(disk_full, device)

    # ---------------- final evaluation, summary ----------------
    rows = metrics_log.read() if dist.is_main() else []
    if labelled:
        scores, local = label_scores(net, source, runtime, cfg, taps=knn_plan is not None)
        knn = None if knn_plan is None else knn_top1(net, source, knn_plan, local, runtime, cfg.eval,
                                                     cfg.train.batch_size, cfg.train.workers)
        _record_eval(run_dir, "final", scores, knn, knn_plan)
    if dist.is_main():
        print(summary_table(rows, _read_eval(run_dir)), flush=True)
    if tensorboard is not None:
        tensorboard.close()
    dist.barrier()
    return rows


def _stop_together(failure: Exception | None, device: torch.device) -> None:
    """The epoch-end barrier, which also tells every rank whether rank 0's writes failed (a full disk), so
    that all stop with one message instead of the others waiting for rank 0 until their timeout."""
    comm = device if device.type == "cuda" else torch.device("cpu")
    failed = dist.all_reduce_sum(torch.tensor([int(failure is not None)], device=comm))
    if int(failed.item()):
        raise RunStopped(str(failure) if failure is not None else "rank 0 could not write the run directory")


class RunStopped(RuntimeError):
    """The run cannot go on (its disk is full); the previous checkpoint is intact and the same command resumes."""


def _training_batches(source, assignments: np.ndarray, cfg: Config, epoch: int, seed: int):
    """This rank's batches for the epoch and how many there are (the same number on every rank).

    Indexed sources take their equal slice of the uniform-over-clusters list; streaming sources follow
    this rank's part of the epoch's global shard plan, built from the same list (``shard_epoch_plan``).
    """
    batch = cfg.train.batch_size
    if source.streaming:
        plan = shard_epoch_plan(assignments, source.shard_members, cfg.seed, epoch, dist.rank(), dist.world_size(),
                                cfg.train.workers, batch)
        return source.train_batches(plan, seed, cfg.train.workers), plan.steps
    uniform = uniform_cluster_indices(assignments, cfg.seed, epoch)
    indices = rank_slice(uniform, dist.rank(), dist.world_size())
    return source.batches(indices, batch, train=True, seed=seed, workers=cfg.train.workers), -(-len(indices) // batch)


def _wrap_for_ddp(net, cfg: Config, device: torch.device):
    """DDP wrapper (optionally with SyncBN) around ``net``; ``net`` stays the handle we save and extract with."""
    if not dist.is_distributed():
        return net
    if cfg.train.sync_bn:
        if device.type == "cuda":
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        else:
            log.warning("train.sync_bn=true needs CUDA; BatchNorm stays per-process on %s", device)
    return DistributedDataParallel(net)


def _extract_taps(net, source, runtime, cfg: Config):
    """An extraction for the monitor alone (epochs that keep the previous clusters)."""
    dist.broadcast_buffers(net)
    return extract_local(net, source, runtime, cfg.train.batch_size, cfg.train.workers, taps=True)


def _read_eval(run_dir: Path) -> dict:
    """eval.json, or {} (with a warning) when a crash or a full disk left it unreadable."""
    path = run_dir / "eval.json"
    if not path.exists():
        return {}
    try:
        results = json.loads(path.read_bytes())
        if not isinstance(results, dict):
            raise ValueError(f"holds a {type(results).__name__}, not a mapping")
        return results
    except ValueError as err:
        log.warning("%s is unreadable (%s); it is rebuilt from the checkpoint", path, err)
        return {}


def _remove_stale_temps(run_dir: Path) -> None:
    """Temporary files of writes a crash interrupted (never renamed into place): no writer is running now."""
    stale = [*run_dir.glob(".*.tmp"), *(run_dir / "checkpoints").glob(".*.tmp")]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d temporary file(s) of writes a crash interrupted", len(stale))


def _restore_eval(run_dir: Path, saved: dict | None) -> None:
    """Put back the entries of eval.json that the newest checkpoint carries and the file lost (rank 0)."""
    current = _read_eval(run_dir)
    missing = {name: entry for name, entry in (saved or {}).items() if name not in current}
    if missing:
        write_text_atomic(run_dir / "eval.json", json.dumps({**current, **missing}, indent=2) + "\n")
        log.info("eval.json: restored %s from the checkpoint", ", ".join(sorted(missing)))


def _record_eval(run_dir: Path, name: str, scores: dict | None, knn: dict | None, plan) -> None:
    """k-means (k = #classes) scores and k-NN top-1 of the features, kept in eval.json (rank 0)."""
    if scores is None:
        return
    results = _read_eval(run_dir)
    results[name] = {**scores, **(knn or {}), "epochs_trained": int(_epochs_done(run_dir))}
    if knn:
        results[name]["knn_protocol"] = plan.description
    try:
        write_text_atomic(run_dir / "eval.json", json.dumps(results, indent=2) + "\n")
    except DiskFull as err:  # the epoch's checkpoint then stops the run; its copy rebuilds eval.json on resume
        log.warning("eval.json not written: %s", err)
    knn_text = "".join(f"  k-NN top-1 {k.removeprefix('knn_top1_')} {100 * v:.1f} %" for k, v in (knn or {}).items())
    log.info("%s features, k-means with k=#classes: ACC %.3f  NMI %.3f  ARI %.3f%s",
             name, scores["acc"], scores["nmi"], scores["ari"], knn_text)


def _epochs_done(run_dir: Path) -> int:
    return len(MetricsLog(run_dir / "metrics.jsonl").read())


def _cluster_metrics(assignments, previous, labels, k, recluster) -> dict:
    used = assignments >= 0
    sizes = np.bincount(assignments[used], minlength=k)
    row = {"cluster_size_min": int(sizes.min()), "cluster_size_max": int(sizes.max()),
           "nmi_prev": None, "nmi_labels": None, "purity_labels": None, "ari_labels": None}
    if previous is not None and recluster:
        both = used & (previous >= 0)
        row["nmi_prev"] = nmi(previous[both], assignments[both])
    if labels is not None:  # k clusters against the classes: one-to-one ACC would be capped at #classes / k
        row.update(nmi_labels=nmi(labels[used], assignments[used]), ari_labels=ari(labels[used], assignments[used]),
                   purity_labels=purity(labels[used], assignments[used]))
    return row


def _report_unreadable(source, valid: np.ndarray, run_dir: Path) -> int:
    bad = np.flatnonzero(~valid)
    write_text_atomic(run_dir / "unreadable.txt", "".join(source.keys[i] + "\n" for i in bad))
    examples = ", ".join(source.keys[i] for i in bad[:5])
    log.warning("%d file(s) could not be decoded and are left out of clustering and training (e.g. %s); "
                "full list in %s", len(bad), examples, run_dir / "unreadable.txt")
    return len(bad)


def _grid(source, clustering, cfg: Config, epoch: int):
    if cfg.log.image_grid_clusters == 0:
        return None
    rng = numpy_rng(cfg.seed, Purpose.GRID, epoch)
    in_use = np.unique(clustering.assignments[clustering.assignments >= 0])
    shown = rng.choice(in_use, min(cfg.log.image_grid_clusters, len(in_use)), replace=False)
    return cluster_grid(source, clustering.assignments, clustering.distances, sorted(shown.tolist()))


def _format_row(row: dict) -> str:
    def fmt(key, spec):
        value = row.get(key)
        return "-" if value is None else format(value, spec)

    knn = " ".join(f"{key.removeprefix('knn_top1_')} {100 * row[key]:.1f}%"
                   for key in KNN_KEYS if row.get(key) is not None)
    return (f"epoch {row['epoch']:3d} | kmeans {fmt('kmeans_loss', '.1f')} | loss {fmt('train_loss', '.3f')} | "
            f"NMI vs previous epoch {fmt('nmi_prev', '.3f')} | vs labels {fmt('nmi_labels', '.3f')} | "
            f"purity {fmt('purity_labels', '.3f')} | k-NN top-1 {knn or '-'} | "
            f"empty {row['n_empty']} | sizes {row['cluster_size_min']}-{row['cluster_size_max']} | "
            f"time extract {row['time_extract_s']:.1f}s cluster {row['time_cluster_s']:.1f}s "
            f"k-NN {row['time_knn_s']:.1f}s train {row['time_train_s']:.1f}s ({row['train_images_per_s']:.0f} img/s)")


__all__ = ["run", "ConfigError"]

"""The k-NN monitor: does pretraining improve the network? Asked every epoch, answered with labels that
never reach training.

A cosine-similarity, temperature-weighted k-NN classifier (k = 20, T = 0.07, as DINO's ``eval_knn``)
on frozen features: the labelled *memory* votes for the class of each *query*. Which samples are which
(``plan_knn``):

- a source holding the dataset's test split (``data.split=all``): memory = its train images, queries =
  its test images, all from the epoch's one extraction pass;
- ``data.split=train`` (or ``fit``): memory = everything trained on, queries = the test (or validation)
  split, extracted beside it with the same taps;
- anything else with labels (image folders, shards, ``split=test``/``val``, a ``data.limit`` that cuts
  the test part off): queries = a fixed 10 % of the samples chosen by a hash of their key (CRC-32), so
  every run, rank and resume picks the same ones; memory = the other 90 %.

The search is sharded like extraction: each rank holds the memory rows it extracted, finds every
query's k best matches among them (faiss on CPU, a matrix product on CUDA), and rank 0 merges the
W x k candidates into the global top k. One process and several give the same neighbours.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import faiss
import numpy as np
import torch
import torch.nn.functional as F

from .. import dist
from ..config import EvalConfig
from ..data import ImageSource
from ..features import LocalFeatures, extract_local
from ..runtime import Runtime
from .knn import weighted_votes

QUERY_PERCENT = 10  # hashed query share for sources without a held-out split


@dataclass
class KnnPlan:
    """Which labelled samples are the memory and which the queries."""

    memory: np.ndarray  # (N,) bool over the training source
    queries: np.ndarray | None  # (N,) bool over the training source, or None when ``held_out`` holds them
    held_out: ImageSource | None  # a separate labelled source whose every sample is a query
    description: str  # one line for the log and the summary


def hashed_queries(keys: list[str], percent: int = QUERY_PERCENT) -> np.ndarray:
    """(N,) bool: the samples whose key hashes into the first ``percent`` of 100 buckets."""
    return np.array([zlib.crc32(key.encode()) % 100 < percent for key in keys], dtype=bool)


def plan_knn(source: ImageSource, held_out: ImageSource | None, split: str) -> KnnPlan | None:
    """The monitor's memory / query split for ``source`` (None when it has no labels)."""
    if source.labels is None:
        return None
    everything = np.ones(len(source), dtype=bool)
    if held_out is not None and held_out.labels is not None:
        name = "validation" if split == "fit" else "test"
        return KnnPlan(everything, None, held_out,
                       f"memory = the {len(source):,} training images, queries = the {len(held_out):,} "
                       f"{name}-split images")
    if source.held_out is not None and (~source.held_out).any():
        n = int(source.held_out.sum())
        return KnnPlan(~source.held_out, source.held_out.copy(), None,
                       f"memory = the {len(source) - n:,} train-split images, queries = the {n:,} test-split "
                       "images (both also clustered, without labels)")
    queries = hashed_queries(source.keys)
    if not queries.any() or queries.all():
        return None  # too few samples to split
    return KnnPlan(~queries, queries, None,
                   f"no held-out split: queries = the {int(queries.sum()):,} samples ({QUERY_PERCENT} %) whose "
                   f"key hashes there (CRC-32), memory = the other {int((~queries).sum()):,}")


@torch.no_grad()
def knn_top1(net, source: ImageSource, plan: KnnPlan, local: LocalFeatures, runtime: Runtime, cfg: EvalConfig,
             batch_size: int, workers: int) -> dict[str, float] | None:
    """``{"knn_top1_<tap>": accuracy}`` for every tap in ``local`` (rank 0; None on other ranks).

    ``local`` is this rank's share of the training source's taps (the epoch's extraction); a held-out
    source is extracted here, sharded the same way. Collective: every rank must call it.
    """
    valid = local.valid.numpy().astype(bool)
    rows = local.indices.numpy()
    memory = torch.from_numpy(valid & plan.memory[rows])
    if plan.held_out is not None:
        queries_local = extract_local(net, plan.held_out, runtime, batch_size, workers, taps=True)
        q_ok = queries_local.valid.bool()
        q_outputs = {name: f[q_ok] for name, f in queries_local.outputs.items()}
        q_labels = plan.held_out.labels[queries_local.indices[q_ok].numpy()]
    else:
        q_ok = torch.from_numpy(valid & plan.queries[rows])
        q_outputs = {name: f[q_ok] for name, f in local.outputs.items()}
        q_labels = source.labels[rows[q_ok.numpy()]]
    all_query_labels = dist.all_gather_varlen(_comm(torch.from_numpy(q_labels), runtime)).cpu()
    memory_labels = torch.from_numpy(source.labels[rows[memory.numpy()]])
    n_classes = int(max(source.labels.max(), all_query_labels.max() if len(all_query_labels) else 0)) + 1

    scores = {}
    for name, features in local.outputs.items():
        queries = dist.all_gather_varlen(_comm(q_outputs[name].float(), runtime))  # every query on every rank
        sims, labels = _local_top_k(F.normalize(queries, dim=1), F.normalize(features[memory].float(), dim=1),
                                    memory_labels, cfg.knn_k, runtime)
        all_sims = dist.gather_parts(_comm(sims, runtime), to_main_only=True)
        all_labels = dist.gather_parts(_comm(labels, runtime), to_main_only=True)
        if dist.is_main():
            sims, pick = torch.cat(all_sims, dim=1).cpu().topk(cfg.knn_k, dim=1)  # each rank sent k (padded)
            labels = torch.cat(all_labels, dim=1).cpu().gather(1, pick)
            predicted = weighted_votes(sims, labels, n_classes, cfg.knn_temperature).argmax(dim=1)
            scores[f"knn_top1_{name}"] = float((predicted == all_query_labels).float().mean())
    return scores if dist.is_main() else None


def _comm(tensor: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Collectives run on the device under NCCL and on the host under gloo."""
    return tensor.to(runtime.device) if runtime.device.type == "cuda" else tensor


def _local_top_k(queries: torch.Tensor, memory: torch.Tensor, memory_labels: torch.Tensor, k: int,
                 runtime: Runtime, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, k) cosine similarities and labels of each query's best matches in this rank's memory.

    Padded with similarity -inf and label -1 where this rank holds fewer than k memory samples.
    """
    q = len(queries)
    sims = torch.full((q, k), float("-inf"))
    labels = torch.full((q, k), -1, dtype=torch.int64)
    found = min(k, len(memory))
    if found and q:
        if runtime.device.type == "cuda":
            bank = memory.to(runtime.device)
            parts = [(queries[s:s + chunk].to(runtime.device) @ bank.T).topk(found, dim=1) for s in range(0, q, chunk)]
            top_sims = torch.cat([p.values for p in parts]).cpu()
            top_idx = torch.cat([p.indices for p in parts]).cpu()
        else:
            d, i = faiss.knn(queries.cpu().numpy(), memory.numpy(), found, metric=faiss.METRIC_INNER_PRODUCT)
            top_sims, top_idx = torch.from_numpy(d), torch.from_numpy(i).long()
        sims[:, :found] = top_sims
        labels[:, :found] = memory_labels[top_idx]
    return sims, labels

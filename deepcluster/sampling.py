"""Pseudo-label sampling uniform over clusters (DeepCluster, Sec. 3.3, "avoiding trivial parametrization").

Big clusters would otherwise dominate the loss and the network would learn to predict them; drawing
the same number of images from every non-empty cluster prevents that. The list is a pure function of
(assignments, seed, epoch): every rank builds the same list and takes its own equal-length slice (so all
ranks run the same number of steps), and a resumed run draws exactly the same sequence.

Streaming sources (WebDataset shards) cannot be read by index, so ``shard_epoch_plan`` draws the same
number from every cluster (a small cluster's members as evenly as they can be) and plans what each
loader stream of each rank reads and emits: the shards in an order shuffled by (seed, epoch), cut into
equal runs of draws (one run per rank and loader worker; a shard on a cut is read by both neighbours,
each keeping its own samples), each run dealt into batches in windows of a few thousand draws, with a
sample's copies in different batches of its window. Only a window's samples are held at once, so memory
stays bounded however large the shards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .seeds import Purpose, numpy_rng

WINDOW = 2048  # draws dealt into batches together on a stream: its shuffle window, and about what it holds


def _clusters(assignments: np.ndarray):
    """(usable samples, those samples grouped by cluster, the clusters, where each starts, their sizes)."""
    valid = np.flatnonzero(assignments >= 0)
    if len(valid) == 0:
        raise ValueError("no sample has a cluster assignment; nothing to train on")
    order = valid[np.argsort(assignments[valid], kind="stable")]
    clusters, starts, counts = np.unique(assignments[order], return_index=True, return_counts=True)
    return valid, order, clusters, starts, counts


def uniform_cluster_indices(assignments: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Dataset indices for one epoch, ``ceil(n / c)`` from each of the c non-empty clusters.

    ``assignments[i] = -1`` marks a sample left out (an unreadable file). Clusters smaller than their
    share are drawn with replacement, larger ones without; the list is shuffled. Its length is
    ``c · ceil(n / c)``, i.e. the number of usable samples rounded up so every cluster counts the same.
    """
    rng = numpy_rng(seed, Purpose.PSEUDO_LABELS, epoch)
    valid, order, clusters, starts, counts = _clusters(assignments)
    per_cluster = -(-len(valid) // len(clusters))
    picks = [
        rng.choice(order[start : start + count], per_cluster, replace=count < per_cluster)
        for start, count in zip(starts, counts)
    ]
    indices = np.concatenate(picks)
    rng.shuffle(indices)
    return indices


def rank_slice(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's contiguous share; every rank gets exactly ``len // world_size`` (the rest is dropped)."""
    per_rank = len(indices) // world_size
    return indices[rank * per_rank : (rank + 1) * per_rank]


@dataclass
class ShardStream:
    """What one loader worker of one rank reads and emits in an epoch (see ``ShardSource.train_batches``)."""

    shards: list[int]  # indices into the source's shard list, in reading order
    members: np.ndarray  # the distinct samples it keeps, in the order they arrive
    batches: list[np.ndarray]  # dataset indices of its batches, in the order it emits them
    ready: np.ndarray  # batch j is complete once ready[j] of ``members`` have arrived
    numbers: np.ndarray  # each batch's place among the rank's batches (worker w of K emits w, w + K, ...)


@dataclass
class ShardPlan:
    """One rank's share of the epoch: a stream per loader worker and the steps every rank takes."""

    streams: list[ShardStream]
    steps: int


def shard_epoch_plan(assignments: np.ndarray, shard_members: list[np.ndarray], seed: int, epoch: int, rank: int,
                     world_size: int, workers: int, batch_size: int) -> ShardPlan:
    """This rank's part of the epoch's global streaming plan; the same call on every rank agrees on the whole.

    ``shard_members[s]`` holds the dataset indices of shard ``s`` in the order the tar stores them. The
    draws (``_epoch_copies``) number ``ceil(n / c)`` per cluster, less the fewer-than-``world_size`` that
    do not split evenly, taken from distinct clusters, so per-cluster totals over all ranks stay within 1
    of each other. Every rank takes ``ceil(D / batch_size)`` steps for its D draws. A sample's copies land
    in different batches of its window whenever the window has as many batches as the sample has copies;
    windows are made that large for every sample of a cluster with at least ``batch_size`` members (at
    most ``ceil(ceil(n / c) / batch_size)`` copies), which a stream can hold when c >= ranks x workers.
    """
    streams_per_rank = max(int(workers), 1)
    plan_rng = numpy_rng(seed, Purpose.SHARD_PLAN, epoch)
    copies = _epoch_copies(assignments, world_size, plan_rng)
    sequence = _reading_sequence(shard_members, copies, plan_rng)
    per_rank = len(sequence[0]) // world_size
    steps = -(-per_rank // batch_size)
    sizes = np.full(steps, batch_size, dtype=np.int64)
    sizes[-1] = per_rank - (steps - 1) * batch_size
    window = max(-(-WINDOW // batch_size), _most_copies_in_large_clusters(assignments, copies, batch_size))
    streams, start = [], rank * per_rank
    for worker in range(streams_per_rank):
        worker_sizes = sizes[worker::streams_per_rank]
        end = start + int(worker_sizes.sum())
        rng = numpy_rng(seed, Purpose.SHARD_BATCHES, epoch, rank * streams_per_rank + worker)
        numbers = np.arange(worker, steps, streams_per_rank)
        streams.append(_deal(sequence, start, end, worker_sizes, numbers, window, rng))
        start = end
    return ShardPlan(streams, steps)


def _epoch_copies(assignments, world_size, rng) -> np.ndarray:
    """How often each sample is drawn this epoch: ``ceil(n / c)`` draws from each of the c non-empty clusters.

    As in ``uniform_cluster_indices``, clusters at least that large give distinct samples; a smaller one
    gives each member ``share // m`` copies and ``share % m`` random members one more (the even form of
    drawing with replacement, so no member piles up copies a stream cannot spread). The total is then cut
    to a multiple of ``world_size``: one draw from each of ``extra`` distinct clusters (round-robin past c),
    always from a member with the most copies.
    """
    valid, order, clusters, starts, counts = _clusters(assignments)
    share = -(-len(valid) // len(clusters))
    if len(clusters) * share < world_size:
        raise ValueError(f"{len(clusters) * share} draws cannot be split over {world_size} ranks; use fewer ranks")
    copies = np.zeros(len(assignments), dtype=np.int64)
    for start, count in zip(starts, counts):
        members = order[start : start + count]
        copies[members] = share // count
        copies[rng.choice(members, share % count, replace=False)] += 1
    extra = len(clusters) * share % world_size
    dropped = rng.permutation(len(clusters))
    for turn in range(extra):
        c = dropped[turn % len(clusters)]
        members = order[starts[c] : starts[c] + counts[c]]
        most = members[copies[members] == copies[members].max()]
        copies[rng.choice(most)] -= 1
    return copies


def _reading_sequence(shard_members, copies, rng) -> tuple[np.ndarray, np.ndarray]:
    """Every draw in reading order (shards shuffled, a sample's copies side by side) and its shard."""
    order = rng.permutation(len(shard_members))
    members = np.concatenate([np.asarray(shard_members[s], dtype=np.int64) for s in order] or [np.empty(0, int)])
    shards = np.concatenate([np.full(len(shard_members[s]), s, dtype=np.int64) for s in order] or [np.empty(0, int)])
    repeats = copies[members]
    if repeats.sum() != copies.sum():
        raise ValueError("some drawn samples are in no shard; the shard listing does not match the assignments")
    return np.repeat(members, repeats), np.repeat(shards, repeats)


def _most_copies_in_large_clusters(assignments, copies, batch_size) -> int:
    valid = assignments >= 0
    sizes = np.bincount(assignments[valid])
    large = valid & (sizes[np.where(valid, assignments, 0)] >= batch_size)
    return int(copies[large].max(initial=1))


def _deal(sequence, start, end, sizes, numbers, window, rng) -> ShardStream:
    """Draws ``start:end`` of the reading sequence dealt into ``len(sizes)`` batches, a window at a time.

    In a window the distinct samples are shuffled, their copies kept together, and the list dealt
    round-robin over the window's batches, so c copies land in c different batches when c <= batches.
    A short last window is merged into the one before, so no window has fewer batches than ``window``.
    """
    draws, shards = sequence[0][start:end], sequence[1][start:end]
    first = np.r_[True, draws[1:] != draws[:-1]] if len(draws) else np.zeros(0, dtype=bool)
    arrived = np.cumsum(first)
    bounds = list(range(0, len(sizes), window))
    if len(bounds) > 1 and len(sizes) - bounds[-1] < window:
        bounds.pop()
    offsets = np.r_[0, np.cumsum(sizes)]
    batches, ready = [], []
    for lo, hi in zip(bounds, bounds[1:] + [len(sizes)]):
        a, b = offsets[lo], offsets[hi]
        part, runs = draws[a:b], first[a:b].copy()
        runs[0] = True  # a sample whose copies straddle two windows starts a run in each
        starts = np.flatnonzero(runs)
        counts = np.diff(np.r_[starts, b - a])
        shuffled = rng.permutation(len(starts))
        grouped = np.repeat(part[starts][shuffled], counts[shuffled])
        batches += [grouped[j :: hi - lo] for j in range(hi - lo)]
        ready += [int(arrived[b - 1])] * (hi - lo)
    shard_order = list(dict.fromkeys(shards.tolist()))
    return ShardStream(shard_order, draws[first], batches, np.asarray(ready, dtype=np.int64), numbers)

"""Every random stream of a run, derived in one place from (run seed, purpose, epoch, rank).

Each stream is ``numpy.random.SeedSequence([seed, purpose, epoch, rank])``: distinct keys give
independent streams whatever the world size (literal offsets such as ``10 + rank`` and ``20 + rank``
collide from ten ranks on). Streams are pure functions of their key, so a resumed run draws exactly
what an uninterrupted one would. Purposes are numbered once and never reused.
"""

from __future__ import annotations

import enum

import numpy as np
import torch


class Purpose(enum.IntEnum):
    INIT = 1  # initial weights (same on every rank)
    DROPOUT = 2  # the global torch RNG during training (dropout), per rank
    TOP_LAYER = 3  # re-initialisation of the top layer, same on every rank
    AUGMENT = 4  # crops and flips of the training batches, per rank
    KMEANS = 5  # faiss k-means initialisation
    RESEED = 6  # re-seeding empty clusters
    PSEUDO_LABELS = 7  # the epoch's uniform-over-clusters sample list (same on every rank)
    PCA_SAMPLE = 8  # distributed mode: the points each rank contributes to the PCA fit
    GRID = 9  # which clusters the TensorBoard image grid shows
    PROBE_INIT = 10  # linear probes' initial weights
    PROBE_ORDER = 11  # linear probes' epoch order (same on every rank)
    PROBE_AUGMENT = 12  # linear probes' crops and flips, per rank
    SHARD_ROUND = 13  # retired (streaming passes before the epoch plan); kept so no number is reused
    SHARD_PLAN = 14  # streaming: the epoch's draws per sample and its shard order (same on every rank)
    SHARD_BATCHES = 15  # streaming: how each loader stream's draws are dealt into batches
    SHARD_CROPS = 16  # streaming: crops and flips of a training batch, keyed by its number on the rank


def seed_sequence(seed: int, purpose: Purpose, epoch: int = 0, rank: int = 0) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), int(purpose), int(epoch), int(rank)])


def stream_seed(seed: int, purpose: Purpose, epoch: int = 0, rank: int = 0, bits: int = 63) -> int:
    """An integer seed for libraries that take one: 63 bits for torch, ``bits=31`` for faiss's int."""
    state = seed_sequence(seed, purpose, epoch, rank).generate_state(2, dtype=np.uint32)
    return int(((int(state[0]) << 32) | int(state[1])) & ((1 << bits) - 1))


def numpy_rng(seed: int, purpose: Purpose, epoch: int = 0, rank: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed_sequence(seed, purpose, epoch, rank))


def torch_generator(seed: int, purpose: Purpose, epoch: int = 0, rank: int = 0,
                    device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(stream_seed(seed, purpose, epoch, rank))

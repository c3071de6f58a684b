"""Pseudo-label sampling uniform over clusters (DeepCluster, Sec. 3.3, "avoiding trivial parametrization").

Big clusters would otherwise dominate the loss and the network would learn to predict them; drawing
the same number of images from every non-empty cluster prevents that. The list is a pure function of
(assignments, seed, epoch): every rank builds the same list and takes its own equal-length slice (so all
ranks run the same number of steps), and a resumed run draws exactly the same sequence.
"""

from __future__ import annotations

import numpy as np

from .seeds import Purpose, numpy_rng


def uniform_cluster_indices(assignments: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Dataset indices for one epoch, ``ceil(n / c)`` from each of the c non-empty clusters.

    ``assignments[i] = -1`` marks a sample left out (an unreadable file). Clusters smaller than their
    share are drawn with replacement, larger ones without; the list is shuffled. Its length is
    ``c · ceil(n / c)``, i.e. the number of usable samples rounded up so every cluster counts the same.
    """
    rng = numpy_rng(seed, Purpose.PSEUDO_LABELS, epoch)
    valid = np.flatnonzero(assignments >= 0)
    if len(valid) == 0:
        raise ValueError("no sample has a cluster assignment; nothing to train on")
    order = valid[np.argsort(assignments[valid], kind="stable")]
    clusters, starts, counts = np.unique(assignments[order], return_index=True, return_counts=True)
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

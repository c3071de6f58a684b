"""Weighted k-NN classification on frozen features: a cheap second score next to the linear probe.

Cosine similarity (rows L2-normalised), k = 20 neighbours from the labelled train split, each voting for
its class with weight exp(similarity / T), T = 0.07 (Wu et al. 2018, as used by DINO). Needs no training,
so it ranks backbones in seconds where a linear probe takes many epochs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_predict(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, k: int = 20,
                temperature: float = 0.07, n_classes: int | None = None, chunk: int = 1024) -> np.ndarray:
    """Class scores (N_test, n_classes) from the ``k`` most cosine-similar train samples."""
    if len(train_features) != len(train_labels):
        raise ValueError(f"{len(train_features)} train features but {len(train_labels)} labels")
    k = min(k, len(train_features))
    n_classes = n_classes or int(train_labels.max()) + 1
    bank = F.normalize(torch.as_tensor(train_features, dtype=torch.float32), dim=1)
    labels = torch.as_tensor(train_labels, dtype=torch.int64)
    scores = []
    for start in range(0, len(test_features), chunk):
        query = F.normalize(torch.as_tensor(test_features[start:start + chunk], dtype=torch.float32), dim=1)
        sims, idx = (query @ bank.T).topk(k, dim=1)
        scores.append(weighted_votes(sims, labels[idx], n_classes, temperature))
    return torch.cat(scores).numpy() if scores else np.zeros((0, n_classes), np.float32)


def weighted_votes(sims: torch.Tensor, neighbour_labels: torch.Tensor, n_classes: int,
                   temperature: float) -> torch.Tensor:
    """(Q, n_classes) class scores: each neighbour votes exp(similarity / T) for its class.

    Neighbours labelled -1 (padding where a shard of the memory held fewer than k samples) do not vote.
    """
    weights = (sims / temperature).exp() * (neighbour_labels >= 0)
    votes = torch.zeros(len(sims), n_classes, dtype=weights.dtype)
    return votes.scatter_add_(1, neighbour_labels.clamp(min=0), weights)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Top-k accuracies for each k smaller than or equal to the number of classes."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in ks:
        if k <= scores.shape[1]:
            out[f"top{k}"] = float((order[:, :k] == labels[:, None]).any(axis=1).mean())
    return out


def knn_accuracy(train_features, train_labels, test_features, test_labels, k: int = 20,
                 temperature: float = 0.07) -> dict[str, float]:
    """Top-1 (and top-5 with >= 5 classes) of the weighted k-NN vote on the test split."""
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    scores = knn_predict(train_features, train_labels, test_features, k, temperature, n_classes)
    result = topk_accuracy(scores, np.asarray(test_labels))
    result.update(k=k, temperature=temperature, n_train=int(len(train_features)), n_test=int(len(test_features)))
    return result

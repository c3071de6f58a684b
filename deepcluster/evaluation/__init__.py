"""Scoring learned features: k-means against labels (here), linear probes and k-NN (their own modules)."""

from .kmeans_eval import kmeans_label_scores

__all__ = ["kmeans_label_scores"]

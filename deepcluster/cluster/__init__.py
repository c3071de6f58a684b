"""Clustering step of each epoch: PCA whitening → L2 → faiss k-means → re-seeding of empty clusters."""

from .assign import Clustering, cluster_features
from .kmeans import KMeansResult, run_kmeans
from .pca import l2_normalize, pca_whiten, preprocess_features
from .reseed import reseed_empty_clusters

__all__ = [
    "Clustering", "cluster_features", "KMeansResult", "run_kmeans",
    "l2_normalize", "pca_whiten", "preprocess_features", "reseed_empty_clusters",
]

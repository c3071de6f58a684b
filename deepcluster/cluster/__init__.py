"""Clustering step of each epoch: PCA whitening → L2 → faiss k-means → re-seeding of empty clusters."""

from .assign import Clustering, cluster_features, epoch_seed
from .kmeans import KMeansResult, faiss_gpu_available, kmeans_backend, run_kmeans
from .pca import l2_normalize, pca_whiten, preprocess_features
from .reseed import reseed_empty_clusters

__all__ = [
    "Clustering", "cluster_features", "epoch_seed",
    "KMeansResult", "faiss_gpu_available", "kmeans_backend", "run_kmeans",
    "l2_normalize", "pca_whiten", "preprocess_features", "reseed_empty_clusters",
]

"""Deep clustering heads on frozen features: k-means, AE + k-means, DEC, VaDE, SpectralNet and classical
spectral clustering on the global k-NN graph.

Every head has ``fit(features)``, ``predict(features)`` (also for unseen points), ``save(dir)`` and
``load(dir)``; features are an (N, d) float array (raw pixels in [0, 1], or a backbone's features).
"""

from .ae_head import AutoencoderHead
from .ae_kmeans import AEKMeans
from .base import ClusteringFailed, ClusteringHead, check_features
from .dec import DEC
from .kmeans import KMeans
from .registry import HEADS, build_head, load_head
from .spectral import SpectralClustering
from .spectralnet import SpectralNet
from .vade import VaDE

__all__ = ["AEKMeans", "AutoencoderHead", "ClusteringFailed", "ClusteringHead", "DEC", "HEADS", "KMeans",
           "SpectralClustering", "SpectralNet", "VaDE", "build_head", "check_features", "load_head"]

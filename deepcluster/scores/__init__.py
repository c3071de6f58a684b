"""Scoring features against labels: k-means ACC/NMI/ARI, weighted k-NN, and the training run's sharded k-NN monitor.

Labels only score, never steer. These sit below ``train`` because the training loop reports them every
epoch; ``evaluation`` (linear probes on a saved network) builds on them from above.
"""

from .kmeans import kmeans_label_scores

__all__ = ["kmeans_label_scores"]

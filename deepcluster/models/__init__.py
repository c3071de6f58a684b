"""Networks: the fixed Sobel front end, backbones (compact, AlexNet, ResNet), the DeepCluster network, the
feature extractor kept after pretraining, the layer taps the probes read, and the export file format."""

from .extractor import FeatureExtractor
from .network import TAP_BACKBONE, TAP_CLUSTERED, DeepClusterNet, build_network
from .sobel import Sobel

__all__ = ["TAP_BACKBONE", "TAP_CLUSTERED", "DeepClusterNet", "FeatureExtractor", "build_network", "Sobel"]

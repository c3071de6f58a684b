"""Networks: the fixed Sobel front end, backbones (compact, AlexNet, ResNet) and the DeepCluster head."""

from .network import TAP_BACKBONE, TAP_CLUSTERED, DeepClusterNet, build_network
from .sobel import Sobel

__all__ = ["TAP_BACKBONE", "TAP_CLUSTERED", "DeepClusterNet", "build_network", "Sobel"]

"""Networks: the fixed Sobel front end, backbones (compact, AlexNet, ResNet) and the DeepCluster head."""

from .network import DeepClusterNet, build_network
from .sobel import Sobel

__all__ = ["DeepClusterNet", "build_network", "Sobel"]

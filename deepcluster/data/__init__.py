"""Data: where images come from (in-memory tensors, image folders) and how they are batched."""

from .build import build_held_out_source, build_source, default_crop_min_scale
from .sources import FolderSource, ImageSource, TensorSource

__all__ = ["build_held_out_source", "build_source", "default_crop_min_scale", "ImageSource", "TensorSource",
           "FolderSource"]

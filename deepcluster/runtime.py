"""Run-time choice of the fast paths (mixed precision, channels-last, faiss GPU) and the start-up report.

Everything here is decided from what the machine has, so one code path serves a CPU box and a GPU
node; ``describe()`` states which paths are active so a log shows what a run really used.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass

import faiss
import torch
from tqdm import tqdm

from . import dist
from .config import TrainConfig
from .data.augment import normalize

log = logging.getLogger(__name__)

FEATURE_DTYPES = {"float32": torch.float32, "float16": torch.float16}  # cluster.feature_dtype


@dataclass
class Runtime:
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    kmeans_backend: str
    feature_dtype: torch.dtype = torch.float32  # extracted features on the host; float16 halves their memory
    pin_memory: bool = False  # page-locked host batches, so host-to-device copies can be non-blocking

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def prepare(self, images: torch.Tensor, mean, std) -> torch.Tensor:
        """uint8 batch → normalised float on the device, in the chosen memory format.

        DataLoader batches arrive pinned (``pin_memory`` on CUDA); in-memory batches are pinned here,
        since a non-blocking copy from pageable memory is a synchronous one.
        """
        if self.pin_memory and not images.is_pinned():
            images = images.pin_memory()
        x = normalize(images.to(self.device, non_blocking=True), mean, std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def describe(self) -> str:
        """One line naming every fast path and whether it is on, for the start-up log."""
        amp = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off"
        backend = torch.distributed.get_backend() if dist.is_distributed() else "none (single process)"
        return (
            f"device={self.device} local_rank={dist.local_rank()} world_size={dist.world_size()} backend={backend} "
            f"amp={amp} channels_last={self.channels_last} cudnn.benchmark={torch.backends.cudnn.benchmark} "
            f"pin_memory={self.pin_memory} non_blocking_copies={self.pin_memory} kmeans={self.kmeans_backend}-faiss "
            f"feature_dtype={str(self.feature_dtype).replace('torch.', '')} threads={torch.get_num_threads()}"
        )


FAISS_GPU_INSTALL = ("pip uninstall -y faiss-cpu && pip install faiss-cuda==1.14.1.post4 "
                     "(CUDA 13, like torch 2.14.1; docker/Dockerfile does this)")


def faiss_gpu_available() -> bool:
    """faiss was built with GPU support and sees a GPU (faiss-cpu has neither)."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def kmeans_backend(device: torch.device) -> str:
    """'gpu' when the run computes on CUDA and faiss can use that GPU, else 'cpu'.

    A CUDA run on CPU faiss still clusters correctly, but its k-means is an order of magnitude
    slower and nothing else would tell you, so that fallback is logged as a warning.
    """
    if device.type != "cuda":
        return "cpu"
    if faiss_gpu_available():
        return "gpu"
    if dist.is_main():  # every rank falls back alike; one line says it
        log.warning("device is %s but faiss has no GPU support (faiss-cpu is installed, or GPU faiss found no "
                    "GPU): k-means falls back to CPU faiss, about 10x slower; install GPU faiss: %s",
                    device, FAISS_GPU_INSTALL)
    return "cpu"


def select_runtime(cfg: TrainConfig, device: torch.device, feature_dtype: str = "float32") -> Runtime:
    """The fast paths this machine supports: bf16 autocast, cuDNN autotuning, pinned copies and GPU
    faiss on CUDA; fp32 and CPU faiss otherwise (``train.amp`` and ``train.channels_last`` can override)."""
    if cfg.amp == "auto":
        if device.type == "cuda":
            amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            amp = None  # CPU autocast pays only with AMX/AVX512-BF16; see BENCHMARKS.md
    else:
        amp = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.amp]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: autotuned convolutions pay from the 2nd batch
    return Runtime(device=device, amp_dtype=amp, channels_last=cfg.channels_last, kmeans_backend=kmeans_backend(device),
                   feature_dtype=FEATURE_DTYPES[feature_dtype], pin_memory=device.type == "cuda")


def progress(iterable, total: int | None = None, desc: str = ""):
    """A tqdm bar on rank 0 when stderr is a terminal; silent elsewhere (logs stay readable)."""
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True,
                disable=not (dist.is_main() and sys.stderr.isatty()))

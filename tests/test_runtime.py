"""Fast paths chosen at run time and the start-up report that states them (CPU here; CUDA choices checked
by asking for a CUDA runtime, which needs no GPU until something runs on it)."""

import logging

import pytest
import torch

from deepcluster.runtime import faiss_gpu_available
from deepcluster.config import TrainConfig
from deepcluster.runtime import select_runtime


def fields(report: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in report.replace("none (single process)", "none").split())


def test_cpu_report_states_every_fast_path():
    runtime = select_runtime(TrainConfig(), torch.device("cpu"), "float16")
    report = fields(runtime.describe())
    assert report["device"] == "cpu" and report["local_rank"] == "0" and report["world_size"] == "1"
    assert report["backend"] == "none" and report["amp"] == "off" and report["channels_last"] == "True"
    assert report["pin_memory"] == "False" and report["non_blocking_copies"] == "False"
    assert report["kmeans"] == "cpu-faiss" and report["feature_dtype"] == "float16"
    assert {"cudnn.benchmark", "threads"} <= set(report)
    assert fields(select_runtime(TrainConfig(amp="bf16"), torch.device("cpu")).describe())["feature_dtype"] == "float32"


@pytest.mark.skipif(faiss_gpu_available(), reason="this install has GPU faiss and a GPU: no fallback to see")
def test_cuda_runtime_turns_on_gpu_paths_and_reports_the_faiss_fallback(monkeypatch, caplog):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored after the test
    with caplog.at_level(logging.WARNING):
        runtime = select_runtime(TrainConfig(amp="bf16"), torch.device("cuda", 0), "float16")
    report = fields(runtime.describe())
    assert report["device"] == "cuda:0" and report["amp"] == "bfloat16" and report["cudnn.benchmark"] == "True"
    assert report["pin_memory"] == "True" and report["non_blocking_copies"] == "True"
    assert report["kmeans"] == "cpu-faiss" and "falls back to CPU faiss" in caplog.text


def test_bf16_autocast_and_channels_last_run_on_cpu():
    runtime = select_runtime(TrainConfig(amp="bf16", channels_last=True), torch.device("cpu"))
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    x = runtime.prepare(images, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    # atol: near 0.5 (pixel 128) the subtraction cancels, so a 1-ulp difference in x/255 is a large relative one
    assert torch.allclose(x, (images / 255.0 - 0.5) / 0.25, atol=1e-6)
    conv = torch.nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
    with runtime.autocast():
        y = conv(x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()

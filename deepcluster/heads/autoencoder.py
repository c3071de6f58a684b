"""The shared autoencoder (DEC's d-500-500-2000-10) and its pretraining, cached by content.

DEC, IDEC, VaDE and N2D all start from an autoencoder's 10-d codes, and the pretraining quality decides
their result. We pretrain end to end with Adam on the mean squared error (the DEC-keras / N2D practice, far
faster than the original layer-wise denoising recipe), with Glorot-uniform weights and zero biases as Keras
(``init="glorot"``), or DEC-keras's later VarianceScaling(1/3, fan_in, uniform), U(+-sqrt(1/fan_in))
(``init="fan_in"``), which its author reports trains a better autoencoder. DEC-keras pairs that init with
SGD at lr 1, momentum 0.9, for 300 epochs on (Fashion-)MNIST (``optimizer="sgd"``); Adam is the default
because it gets a usable autoencoder in the 20 epochs a CPU can afford. ``precision="bf16"`` (bfloat16
autocast) makes the long recipe cheaper where the hardware has bfloat16 units.

Pretraining dominates the cost, so ``pretrained_autoencoder`` can cache the weights in a folder. The cache
key hashes the data itself and every setting that changes the weights (sizes, epochs, lr, batch, seed), so a
file made for other data or other settings is never picked up by mistake.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save
from torch import nn
from tqdm.auto import tqdm

from ..atomic import write_bytes_atomic
from .base import ClusteringFailed, TrainingDiverged, check_finite


INITS = ("glorot", "fan_in")
OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("fp32", "bf16")


def mlp(dims: list[int], init: str = "glorot") -> nn.Sequential:
    """Linear layers with ReLU between them and a linear last layer (a code or a reconstruction)."""
    if init not in INITS:
        raise ValueError(f"unknown weight init {init!r}; use one of {', '.join(INITS)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        linear = nn.Linear(a, b)
        if init == "glorot":
            nn.init.xavier_uniform_(linear.weight)
        else:
            nn.init.uniform_(linear.weight, -(1.0 / a) ** 0.5, (1.0 / a) ** 0.5)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Symmetric MLP autoencoder: d-h1-...-hn-code and back."""

    def __init__(self, input_dim: int, hidden: tuple[int, ...] = (500, 500, 2000), code_dim: int = 10,
                 init: str = "glorot") -> None:
        super().__init__()
        dims = [int(input_dim), *map(int, hidden), int(code_dim)]
        self.encoder = mlp(dims, init)
        self.decoder = mlp(dims[::-1], init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@torch.no_grad()
def apply_in_batches(module: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """``module(x)`` in eval mode, batch by batch (keeps memory flat on 70k x 784 inputs)."""
    was_training = module.training
    module.eval()
    out = torch.cat([module(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    module.train(was_training)
    return out


def pretrain(ae: Autoencoder, x: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
             generator: torch.Generator, dropout: float = 0.0, optimizer: str = "adam",
             precision: str = "fp32", progress: bool = False) -> float:
    """Minimise the reconstruction MSE with Adam (or SGD, momentum 0.9); returns the last epoch's mean loss.

    ``dropout`` > 0 makes it a denoising autoencoder (inputs randomly zeroed, clean target), the corruption
    the original DEC used for its stacked pretraining (rate 0.2). ``precision="bf16"`` runs the layers under
    bfloat16 autocast (weights, optimizer state and the loss stay fp32): about 2x faster per step on a CPU
    with AVX512-BF16 (BENCHMARKS.md §3, ``benchmarks/heads/ae_step_time.py``), but less stable at lr 1.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown autoencoder optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown autoencoder precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if optimizer == "sgd":
        opt = torch.optim.SGD(ae.parameters(), lr=lr, momentum=0.9)
    else:
        opt = torch.optim.Adam(ae.parameters(), lr=lr)
    ae.train()
    loss_value = float("nan")
    bar = tqdm(range(epochs), desc="autoencoder", disable=not progress, leave=False)
    for _ in bar:
        order = torch.randperm(len(x), generator=generator).to(x.device)
        total = torch.zeros((), device=x.device)
        for i in range(0, len(x), batch_size):
            batch = x[order[i : i + batch_size]]
            noisy = nn.functional.dropout(batch, dropout, training=True) * (1 - dropout) if dropout else batch
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                reconstruction = ae(noisy)
            loss = nn.functional.mse_loss(reconstruction.float(), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(batch)
        check_finite("autoencoder loss", total, "lower ae_lr or check the features' scale")
        loss_value = float(total) / len(x)
        bar.set_postfix(mse=f"{loss_value:.5f}")
    return loss_value


class AutoencoderFailed(ClusteringFailed):
    """The shared autoencoder of a seed failed, so every head built on it (same seed) fails too."""


class AutoencoderCollapsed(AutoencoderFailed):
    """Pretraining ended no better than a constant output: every code is (nearly) the same point."""


def check_learned(mse: float, x: np.ndarray, hint: str) -> None:
    """Refuse an autoencoder whose reconstruction MSE is at least 90 % of what the data's mean gets.

    A collapsed autoencoder (codes squeezed to nearly one point early in SGD at lr 1, the decoder then only
    reproducing the mean image) has no clustering in its codes, and every head built on it would report a
    meaningless result as if it were one. Trained autoencoders land far below: 12-15 % of that baseline on
    Fashion-MNIST pixels, about 20 % on whitened features. The test uses no labels.
    """
    # Per-column variance in float64, a chunk at a time: no full-size temporary of a large feature matrix.
    total, squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for i in range(0, len(x), 65536):
        chunk = x[i : i + 65536].astype(np.float64)
        total += chunk.sum(axis=0)
        squares += np.square(chunk).sum(axis=0)
    mean = total / len(x)
    constant = float(np.mean(squares / len(x) - mean**2))
    if mse >= 0.9 * constant:
        raise AutoencoderCollapsed(f"the autoencoder did not learn: reconstruction MSE {mse:.5g} against "
                                   f"{constant:.5g} for predicting the mean; {hint}")


def cache_key(x: np.ndarray, settings: dict[str, Any]) -> str:
    """Hash of the data (shape and bytes) and of every setting that changes the pretrained weights."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(str(x.shape).encode())
    h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    return h.hexdigest()[:20]


def pretrained_autoencoder(x: np.ndarray, settings: dict[str, Any], *, seed: int, device: torch.device,
                           cache_dir: str | Path | None = None, progress: bool = False) -> tuple[Autoencoder, dict]:
    """A pretrained autoencoder for ``x`` and info (seconds, mse, whether it came from the cache).

    ``settings`` holds hidden, code_dim, epochs, lr, batch_size, and optionally dropout, init, optimizer and
    precision.
    Weights are initialised from the global torch RNG, which the caller has seeded with ``seed``.
    """
    ae = Autoencoder(x.shape[1], tuple(settings["hidden"]), settings["code_dim"],
                     init=settings.get("init", "glorot"))
    key_settings = {**settings, "seed": int(seed), "kind": "mse-adam-v1"}
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"ae-{cache_key(x, key_settings)}.safetensors"
        if path.is_file():
            with safe_open(path, framework="pt") as f:  # a file cached before the check existed is checked too
                check_learned(float((f.metadata() or {}).get("mse", 0.0)), x, f"delete {path} and retrain")
            ae.load_state_dict(load_file(path))
            return ae.to(device), {"ae_cached": True, "ae_seconds": 0.0, "ae_file": str(path)}
    start, cpu_start = time.perf_counter(), time.process_time()
    generator = torch.Generator().manual_seed(int(seed))
    xt = torch.from_numpy(x).to(device)
    ae.to(device)
    try:
        mse = pretrain(ae, xt, epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
                       generator=generator, dropout=settings.get("dropout", 0.0),
                       optimizer=settings.get("optimizer", "adam"), precision=settings.get("precision", "fp32"),
                       progress=progress)
    except TrainingDiverged as err:
        raise AutoencoderFailed(f"autoencoder pretraining diverged: {err}") from err
    check_learned(mse, x, "train longer (ae_epochs), lower ae_lr, use ae_precision=fp32 if it was bf16, "
                          "or try another seed")
    info = {"ae_cached": False, "ae_seconds": time.perf_counter() - start,
            "ae_cpu_seconds": time.process_time() - cpu_start, "ae_mse": mse}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in ae.state_dict().items()}
        write_bytes_atomic(path, save(state, metadata={"settings": json.dumps(key_settings), "mse": repr(mse)}))
        info["ae_file"] = str(path)
    return ae, info

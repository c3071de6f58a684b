"""Time one SGD step of the 784-500-500-2000-10 autoencoder in fp32 and under bfloat16 autocast.

Why: ``ae_precision=bf16`` is worth it only where the CPU (or GPU) has bfloat16 units; this says whether
yours does. Reports the median step time over REPEATS blocks of STEPS steps, both precisions interleaved.

  OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/heads/ae_step_time.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from deepcluster.heads.autoencoder import Autoencoder


def block_seconds(ae: Autoencoder, opt: torch.optim.Optimizer, x: torch.Tensor, steps: int, bf16: bool) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            reconstruction = ae(x)
        loss = nn.functional.mse_loss(reconstruction.float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n", type=int, default=70_000, help="samples per epoch, for the s/epoch column")
    args = p.parse_args()
    torch.manual_seed(0)
    ae = Autoencoder(784, init="fan_in")
    opt = torch.optim.SGD(ae.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(args.batch_size, 784)
    for bf16 in (False, True):  # warm-up
        block_seconds(ae, opt, x, 5, bf16)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.repeats):
        for name in times:
            times[name].append(block_seconds(ae, opt, x, args.steps, name == "bf16"))
    steps_per_epoch = -(-args.n // args.batch_size)
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name}: {median * 1e3:.1f} ms/step (median of {args.repeats} x {args.steps}), "
              f"{median * steps_per_epoch:.1f} s/epoch of {args.n}")
    print(f"bf16 speed-up: {statistics.median(times['fp32']) / statistics.median(times['bf16']):.2f}x")


if __name__ == "__main__":
    main()

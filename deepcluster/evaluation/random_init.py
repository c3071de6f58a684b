"""The random-init reference of a pretrained network: the very weights its run started from.

A probe score means little alone (random convolutional features already reach ~80 % on Fashion-MNIST),
so ``eval_linear`` probes the network's own initial weights beside it. ``launch/train.py`` seeds them with
``torch.manual_seed(stream_seed(cfg.seed, Purpose.INIT))`` and then builds the network
(``train/runner.py``); doing the same with the run's stored config (arch, widths, Sobel, seed) and the
input it was trained at rebuilds them exactly, without the run having saved them. The global torch RNG
is left as it was.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..models import FeatureExtractor, build_network
from ..pretrained import Pretrained
from ..seeds import Purpose, stream_seed


def random_init_like(pre: Pretrained) -> Pretrained:
    """``pre`` with the extractor its training run started from (epoch -1, eval mode, on the CPU)."""
    cfg = pre.config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(cfg.seed, Purpose.INIT))
        net = build_network(cfg.model, pre.channels, pre.image_size, cfg.cluster.k)
    return replace(pre, extractor=FeatureExtractor.from_network(net).eval(), epoch=-1,
                   metrics={"note": f"random init of {pre.path} (seed {cfg.seed})"}, assignments=None)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """True when every parameter and buffer of ``a`` equals ``b``'s (a random-init checkpoint is its own
    baseline: probing it twice would only double the cost)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def describe_random_init(pre: Pretrained) -> dict:
    """What the report says about the reference network."""
    cfg = pre.config
    return {"arch": cfg.model.arch, "sobel": cfg.model.sobel, "seed": cfg.seed,
            "init_stream_seed": stream_seed(cfg.seed, Purpose.INIT),
            "how": "torch.manual_seed(stream_seed(seed, Purpose.INIT)) then build_network, as train/runner.py"}

"""VaDE (vade.py): responsibilities that survive far points, and a training length that must be positive."""

from __future__ import annotations

import pytest
import torch

from deepcluster.heads.vade import VaDE, VaDEModel

from .conftest import K


def test_vade_responsibilities_survive_far_points():
    """log-sum-exp: a code far from every component still gets a proper distribution, not 0/0."""
    m = VaDEModel(input_dim=6, hidden=[8], code_dim=2, k=3)
    logits = m.log_joint(torch.tensor([[1e4, -1e4]]))
    gamma = torch.softmax(logits, dim=1)
    assert torch.isfinite(gamma).all() and torch.allclose(gamma.sum(), torch.tensor(1.0))
    with torch.no_grad():
        m.pi_logits.copy_(torch.tensor([-50.0, 0.0, 80.0]))
    assert torch.isfinite(m.loss(torch.randn(5, 6))).all()


def test_vade_needs_at_least_one_epoch():
    with pytest.raises(ValueError, match="vade needs epochs >= 1, got 0"):
        VaDE(K, epochs=0)

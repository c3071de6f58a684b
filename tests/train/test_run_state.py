"""The loop's invariants, checked without starting a run: fresh top layer without stale momentum, the
reclustering schedule, and the optimizer's two groups."""

import torch
import torch.nn.functional as F

from deepcluster.config import ModelConfig, TrainConfig
from deepcluster.models import build_network
from deepcluster.seeds import Purpose, torch_generator
from deepcluster.train.run_state import build_optimizer, reclusters, reset_top_layer


def trained_one_step():
    torch.manual_seed(0)
    net = build_network(ModelConfig(width=4, mlp_dim=16), image_channels=1, image_size=28, k=5)
    optimizer = build_optimizer(net, TrainConfig(lr=0.1))
    loss = F.cross_entropy(net(torch.randn(8, 1, 28, 28)), torch.randint(0, 5, (8,)))
    loss.backward()
    optimizer.step()
    return net, optimizer


def test_top_layer_has_no_momentum_and_the_body_has_it():
    net, optimizer = trained_one_step()
    body, top = optimizer.param_groups
    assert body["momentum"] == 0.9 and top["momentum"] == 0.0
    assert {id(p) for p in top["params"]} == {id(p) for p in net.top_layer.parameters()}


def test_resetting_the_top_layer_drops_its_optimizer_state_and_keeps_the_body_momentum():
    net, optimizer = trained_one_step()
    body_state = {id(p): optimizer.state[p]["momentum_buffer"].clone() for p in optimizer.param_groups[0]["params"]
                  if p in optimizer.state}
    assert body_state, "one SGD step with momentum leaves buffers on the body"
    reset_top_layer(net, optimizer, torch_generator(0, Purpose.TOP_LAYER, 1))
    assert all(p not in optimizer.state for p in net.top_layer.parameters())
    for p in optimizer.param_groups[0]["params"]:
        if id(p) in body_state:
            assert torch.equal(optimizer.state[p]["momentum_buffer"], body_state[id(p)])
    assert torch.all(net.top_layer.bias == 0)
    assert 0.005 < float(net.top_layer.weight.detach().std()) < 0.02  # N(0, 0.01), the reference init


def test_the_top_layer_reset_is_the_same_on_every_rank_and_run():
    a, opt_a = trained_one_step()
    b, opt_b = trained_one_step()
    reset_top_layer(a, opt_a, torch_generator(3, Purpose.TOP_LAYER, 7))
    reset_top_layer(b, opt_b, torch_generator(3, Purpose.TOP_LAYER, 7))
    assert torch.equal(a.top_layer.weight, b.top_layer.weight)
    reset_top_layer(b, opt_b, torch_generator(3, Purpose.TOP_LAYER, 8))
    assert not torch.equal(a.top_layer.weight, b.top_layer.weight)


def test_reassign_every_two_reclusters_on_even_epochs_and_whenever_assignments_are_missing():
    assert [e for e in range(7) if reclusters(e, 2, have_assignments=True)] == [0, 2, 4, 6]
    assert reclusters(3, 2, have_assignments=False), "a resume without stored assignments must cluster first"
    assert all(reclusters(e, 1, have_assignments=True) for e in range(5))

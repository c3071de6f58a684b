"""SpectralNet (spectralnet.py): the paper's alternation, the global graph, the balanced assignment, the graph
batches, the orthonormalisation layer and the batch affinity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepcluster.heads import build_head, load_head
from deepcluster.heads.spectralnet import global_knn_graph, graph_batch, knn_gaussian_affinity, orthonormaliser
from deepcluster.metrics import cluster_accuracy

from .conftest import K, SMALL, blobs


def test_spectralnet_paper_alternation_also_runs(train_blobs):
    x, y = train_blobs
    head = build_head("spectralnet", K, seed=0, **SMALL["spectralnet"], ortho_grad=False).fit(x)
    assert cluster_accuracy(y, head.predict(x)) >= 0.95 and sum(head.info["spectralnet_ortho"].values()) == 201


def test_spectralnet_global_graph_recovers_clusters_and_predicts_new_points(train_blobs, tmp_path):
    x, y = train_blobs
    params = {**SMALL["spectralnet"], "graph": "global", "n_neighbors": 8, "batch_size": 90}
    head = build_head("spectralnet", K, seed=0, **params).fit(x)
    x_new, y_new = blobs(50, seed=7)
    assert cluster_accuracy(y, head.predict(x)) >= 0.95 and cluster_accuracy(y_new, head.predict(x_new)) >= 0.95
    head.save(tmp_path / "g")
    np.testing.assert_array_equal(load_head(tmp_path / "g").predict(x_new), head.predict(x_new))
    with pytest.raises(ValueError, match="graph='knn' is unknown; use one of batch, global"):
        build_head("spectralnet", K, graph="knn")


def test_spectralnet_balanced_assignment_fits_predicts_and_round_trips(train_blobs, tmp_path):
    x, y = train_blobs
    head = build_head("spectralnet", K, seed=0, **SMALL["spectralnet"], assign="balanced").fit(x)
    x_new, y_new = blobs(50, seed=7)
    assert cluster_accuracy(y, head.predict(x)) >= 0.95 and cluster_accuracy(y_new, head.predict(x_new)) >= 0.95
    assert head.offsets is not None and head.offsets.shape == (K,)
    head.save(tmp_path / "b")
    np.testing.assert_array_equal(load_head(tmp_path / "b").predict(x_new), head.predict(x_new))
    with pytest.raises(ValueError, match="assign='sinkhorn' is unknown; use one of kmeans, balanced"):
        build_head("spectralnet", K, assign="sinkhorn")


def test_graph_batch_holds_exactly_the_global_edges_among_its_members():
    """A batch is anchors plus their neighbours, and W has an entry (i, j) only where j is among i's global
    nearest neighbours or i among j's: the global graph cut to the batch, symmetric, nothing invented."""
    x, _ = blobs(60, seed=2)
    h = torch.from_numpy(x)
    neighbours, weights = global_knn_graph(h, n_neighbors=5, scale_neighbor=2)
    brute = torch.cdist(h, h).fill_diagonal_(float("inf")).topk(5, largest=False).indices
    assert torch.equal(neighbours.sort(dim=1).values, brute.sort(dim=1).values)
    members, w = graph_batch(neighbours, weights, size=48, generator=torch.Generator().manual_seed(0))
    assert len(members) == len(set(members.tolist())) and torch.allclose(w, w.T)
    edges = {(int(a), int(b)) for a in range(len(x)) for b in neighbours[a]}
    for i, a in enumerate(members.tolist()):
        for j, b in enumerate(members.tolist()):
            assert (w[i, j] > 0) == ((a, b) in edges or (b, a) in edges)
    anchors_neighbours_in = sum(int(w[i].gt(0).sum()) >= 5 for i in range(len(members)))
    assert anchors_neighbours_in >= 48 // 6  # every anchor keeps all 5 of its neighbours


def test_orthonormaliser_full_rank_and_rank_deficient():
    y = torch.randn(256, 5, generator=torch.Generator().manual_seed(0))
    a, how = orthonormaliser(y)
    assert how == "cholesky"
    torch.testing.assert_close((y @ a).T @ (y @ a) / 256, torch.eye(5), atol=1e-4, rtol=0)
    collapsed = torch.cat([y[:, :2], y[:, :2], torch.zeros(256, 1)], dim=1)  # rank 2 of 5
    for rank_deficient in (collapsed, torch.zeros(256, 5), torch.ones(256, 5), y[:3]):  # y[:3]: K > batch size
        a, how = orthonormaliser(rank_deficient)
        assert how == "jitter" and torch.isfinite(rank_deficient @ a).all()
    # The two directions the collapsed batch spans come out orthonormal, the three it lacks stay empty.
    out = collapsed @ orthonormaliser(collapsed)[0]
    spectrum = torch.linalg.eigvalsh(out.double().T @ out.double() / 256)
    torch.testing.assert_close(spectrum, torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64),
                               atol=1e-3, rtol=0)
    with pytest.raises(FloatingPointError, match="not finite"):
        orthonormaliser(torch.full((8, 3), float("nan")))


def test_affinity_is_symmetric_sparse_and_scaled():
    h = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
    w = knn_gaussian_affinity(h, n_neighbors=5, scale_neighbor=2)
    torch.testing.assert_close(w, w.T)
    assert (w.diagonal() == 0).all() and ((w > 0).sum(1) >= 5).all() and ((w > 0).sum(1) < 20).all()
    w_scaled = knn_gaussian_affinity(h * 100, n_neighbors=5, scale_neighbor=2)
    torch.testing.assert_close(w, w_scaled)  # the scale comes from the neighbour distances

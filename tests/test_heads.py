"""Clustering heads: recovery of separated clusters, out-of-sample prediction, save/load, determinism,
bad input, and a run on a small real Fashion-MNIST subset. CPU, small sizes, real torch and faiss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from deepcluster.heads import HEADS, ClusteringFailed, build_head, check_features, load_head
from deepcluster.heads.autoencoder import AutoencoderCollapsed, AutoencoderFailed, pretrained_autoencoder
from deepcluster.heads.inputs import load_features_file
from deepcluster.heads.kmeans import NEAR_TIE, kmeans_centroids, nearest_centroid, size_evenness
from deepcluster.heads.spectralnet import global_knn_graph, graph_batch, knn_gaussian_affinity, orthonormaliser
from deepcluster.heads.vade import VaDE, VaDEModel
from deepcluster.metrics import cluster_accuracy

FMNIST = Path("/usr/share/datasets/fashion-mnist")
K = 4
SMALL_AE = {"ae_hidden": [64, 64], "code_dim": 4, "ae_epochs": 40, "ae_batch_size": 64}
SMALL = {
    "kmeans": {},
    "ae_kmeans": dict(SMALL_AE),
    "dec": {**SMALL_AE, "max_iter": 300, "batch_size": 64, "update_interval": 20},
    "vade": {**SMALL_AE, "epochs": 15, "batch_size": 64},
    "spectralnet": {**SMALL_AE, "hidden": [64, 64], "iters": 200, "batch_size": 256},
    "spectral": {"n_neighbors": 8},
}


def blobs(n_per: int, seed: int, dim: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """K well-separated Gaussian clusters (centres 8 apart per axis on average, unit noise)."""
    centres = np.random.default_rng(123).normal(0, 4, (K, dim))
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), n_per)
    x = centres[y] + rng.normal(0, 1, (len(y), dim))
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


@pytest.fixture(scope="module")
def train_blobs():
    return blobs(100, seed=0)


@pytest.fixture(scope="module")
def fitted(train_blobs, tmp_path_factory):
    """Each head fitted once on the blobs (the AE shared through a cache, as in the benchmark)."""
    cache = tmp_path_factory.mktemp("ae_cache")
    heads = {}
    for method, params in SMALL.items():
        head = build_head(method, K, seed=0, **params)
        head.ae_cache = cache
        heads[method] = head.fit(train_blobs[0])
    return heads


# ---- every head -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(HEADS))
def test_recovers_separated_clusters(method, fitted, train_blobs):
    x, y = train_blobs
    assert cluster_accuracy(y, fitted[method].predict(x)) >= 0.95


@pytest.mark.parametrize("method", sorted(HEADS))
def test_out_of_sample_prediction(method, fitted):
    x_new, y_new = blobs(50, seed=7)
    assert cluster_accuracy(y_new, fitted[method].predict(x_new)) >= 0.95


@pytest.mark.parametrize("method", sorted(HEADS))
def test_save_load_round_trip(method, fitted, tmp_path):
    x, _ = blobs(30, seed=3)
    fitted[method].save(tmp_path / method)
    restored = load_head(tmp_path / method)
    assert type(restored) is type(fitted[method]) and restored.params == fitted[method].params
    np.testing.assert_array_equal(restored.predict(x), fitted[method].predict(x))


@pytest.mark.parametrize("method", ["dec", "vade", "spectralnet"])
def test_same_seed_same_result(method, fitted, train_blobs, tmp_path):
    """A second fit with the same seed (autoencoder trained afresh, no cache) gives the same labels."""
    x, _ = train_blobs
    again = build_head(method, K, seed=0, **SMALL[method]).fit(x)
    np.testing.assert_array_equal(again.predict(x), fitted[method].predict(x))


# ---- spectral heads: graphs, orthonormalisation, assignment -----------------------------------------
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


def test_spectral_separates_rings_that_kmeans_cannot_and_embeds_new_points():
    """The reason for a graph head: two concentric rings. k-means cuts them in halves; the k-NN graph keeps each
    ring whole, and the Nyström extension places new points from the same rings on the right one."""
    from sklearn.datasets import make_circles

    x, y = make_circles(600, noise=0.04, factor=0.4, random_state=0)
    x_new, y_new = make_circles(200, noise=0.04, factor=0.4, random_state=1)
    x, x_new = x.astype(np.float32), x_new.astype(np.float32)
    assert cluster_accuracy(y, build_head("kmeans", 2).fit_predict(x)) < 0.7
    for assign in ("kmeans", "balanced"):
        head = build_head("spectral", 2, seed=0, n_neighbors=8, assign=assign).fit(x)
        assert cluster_accuracy(y, head.predict(x)) >= 0.98 and cluster_accuracy(y_new, head.predict(x_new)) >= 0.98
    with pytest.raises(ValueError, match="spectral assign='gmm' is unknown; use one of kmeans, balanced"):
        build_head("spectral", 2, assign="gmm")


def test_spectral_places_far_new_points_and_names_an_isolated_training_point():
    """A new point hundreds of kernel widths from the data still gets its neighbours' cluster (no weight
    underflow to 0/0); a training point that far from every other cannot be embedded, and the error says so."""
    from sklearn.datasets import make_circles

    x, y = make_circles(600, noise=0.04, factor=0.4, random_state=0)
    x = x.astype(np.float32)
    head = build_head("spectral", 2, seed=0, n_neighbors=8).fit(x)
    outer = np.bincount(head.predict(x)[y == 0]).argmax()  # make_circles: label 0 is the outer ring
    far = np.array([[30.0, 0.0], [0.0, -40.0]], np.float32)
    assert head.predict(far).tolist() == [outer, outer]
    with pytest.raises(FloatingPointError, match="1 point.s. are isolated in the graph, e.g. point 600"):
        build_head("spectral", 2, seed=0, n_neighbors=8).fit(np.vstack([x, far[:1]]))


# ---- the shared autoencoder: init, optimisers, precision, failures, cache ---------------------------
def test_autoencoder_fan_in_init_is_bounded_and_a_bad_init_is_refused_before_any_work():
    from deepcluster.heads.autoencoder import Autoencoder

    ae = Autoencoder(784, (500, 2000), 10, init="fan_in")
    first = ae.encoder[0].weight
    assert first.abs().max() <= (1 / 784) ** 0.5 and first.abs().max() > 0.9 * (1 / 784) ** 0.5
    assert not torch.equal(first, Autoencoder(784, (500, 2000), 10, init="glorot").encoder[0].weight)
    with pytest.raises(ValueError, match="ae_init='he' is unknown; use one of glorot, fan_in"):
        build_head("dec", K, ae_init="he")


def test_autoencoder_sgd_pretraining_learns_and_is_its_own_cache_entry(tmp_path):
    """DEC-keras's recipe (fan_in init, SGD lr 1 momentum 0.9) trains, and is never confused with Adam's weights."""
    x, _ = blobs(40, seed=3)
    x = (x - x.min()) / (x.max() - x.min())
    settings = {"hidden": [32], "code_dim": 2, "epochs": 30, "lr": 1.0, "batch_size": 16, "init": "fan_in",
                "optimizer": "sgd"}
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    _, sgd = pretrained_autoencoder(x, settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert sgd["ae_mse"] < 0.5 * x.var(axis=0).mean()  # half the error of predicting the mean, or better
    torch.manual_seed(0)
    _, adam = pretrained_autoencoder(x, {**settings, "optimizer": "adam", "lr": 1e-2}, seed=0, device=cpu,
                                     cache_dir=tmp_path)
    torch.manual_seed(0)
    _, again = pretrained_autoencoder(x, settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert not adam["ae_cached"] and again["ae_cached"] and len(list(tmp_path.glob("ae-*.safetensors"))) == 2


def test_bf16_autoencoder_pretraining_learns_keeps_fp32_weights_and_is_its_own_cache_entry(tmp_path):
    """bfloat16 autocast (the 100-epoch recipe's speed-up on CPU) still trains; the stored weights stay fp32."""
    x, _ = blobs(40, seed=3)
    x = (x - x.min()) / (x.max() - x.min())
    settings = {"hidden": [32], "code_dim": 2, "epochs": 30, "lr": 1.0, "batch_size": 16, "init": "fan_in",
                "optimizer": "sgd", "precision": "bf16"}
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    ae, bf16 = pretrained_autoencoder(x, settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert bf16["ae_mse"] < 0.5 * x.var(axis=0).mean()
    assert all(p.dtype == torch.float32 for p in ae.parameters())
    torch.manual_seed(0)
    fp32_settings = {k: v for k, v in settings.items() if k != "precision"}  # as the heads write fp32
    _, fp32 = pretrained_autoencoder(x, fp32_settings, seed=0, device=cpu, cache_dir=tmp_path)
    assert not fp32["ae_cached"] and len(list(tmp_path.glob("ae-*.safetensors"))) == 2
    assert fp32["ae_mse"] != bf16["ae_mse"]  # the same seed and batches, computed in another precision
    with pytest.raises(ValueError, match="ae_precision='fp16' is unknown; use one of fp32, bf16"):
        build_head("vade", K, ae_precision="fp16")


def test_pretraining_epoch_hook_sees_every_epoch_and_leaves_training_unchanged():
    """benchmarks/heads/ae_epochs_probe.py scores the codes (k-means) after each epoch and reports them as the
    E-epoch autoencoder: that holds only if scoring draws nothing from the training's random streams."""
    from deepcluster.heads.autoencoder import Autoencoder, apply_in_batches, pretrain
    from deepcluster.heads.kmeans import kmeans_centroids

    x = blobs(30, seed=3)[0]
    x = torch.from_numpy((x - x.min()) / (x.max() - x.min()))

    def train(hook):
        torch.manual_seed(0)
        ae = Autoencoder(x.shape[1], (16,), 2, init="fan_in")
        mse = pretrain(ae, x, epochs=3, batch_size=16, lr=0.1, optimizer="sgd", on_epoch_end=hook(ae),
                       generator=torch.Generator().manual_seed(0))
        return ae, mse

    seen = []

    def scoring(ae):
        def hook(epoch, mse):
            kmeans_centroids(apply_in_batches(ae.encoder, x).numpy(), K, n_init=2, seed=epoch)
            seen.append((epoch, mse))
        return hook

    watched, watched_mse = train(scoring)
    plain, plain_mse = train(lambda ae: None)
    assert [e for e, _ in seen] == [1, 2, 3] and seen[-1][1] == watched_mse == plain_mse
    for a, b in zip(watched.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_an_autoencoder_no_better_than_the_mean_is_refused_and_not_cached(tmp_path):
    x, _ = blobs(40, seed=3)
    settings = {"hidden": [32], "code_dim": 2, "epochs": 1, "lr": 0.0, "batch_size": 16}
    with pytest.raises(AutoencoderCollapsed, match="did not learn: reconstruction MSE .* for predicting the mean"):
        pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert not list(tmp_path.glob("ae-*"))
    _, trained = pretrained_autoencoder(x, {**settings, "lr": 1e-2, "epochs": 20}, seed=0,
                                        device=torch.device("cpu"), cache_dir=tmp_path)
    assert trained["ae_mse"] < 0.9 * x.var(axis=0).mean()  # the same check passes a trained one
    # A collapsed autoencoder cached by an older version (before this check) is refused when read back.
    (path,) = tmp_path.glob("ae-*.safetensors")
    save_file(load_file(path), path, metadata={"mse": "1e3"})
    with pytest.raises(AutoencoderCollapsed, match="delete .* and retrain"):
        pretrained_autoencoder(x, {**settings, "lr": 1e-2, "epochs": 20}, seed=0, device=torch.device("cpu"),
                               cache_dir=tmp_path)


def test_a_diverged_autoencoder_fails_its_seed_and_is_not_cached(tmp_path):
    """NaN during pretraining is the shared autoencoder's failure (every head of the seed fails with it)."""
    x, _ = blobs(40, seed=3)
    settings = {"hidden": [32], "code_dim": 2, "epochs": 2, "lr": 1e30, "batch_size": 16}
    with pytest.raises(AutoencoderFailed, match="pretraining diverged: autoencoder loss is not finite"):
        pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert issubclass(AutoencoderFailed, ClusteringFailed) and not list(tmp_path.glob("ae-*"))


def test_autoencoder_cache_is_keyed_by_data_and_settings(tmp_path):
    x, _ = blobs(20, seed=1)
    settings = {"hidden": [16], "code_dim": 2, "epochs": 20, "lr": 1e-2, "batch_size": 8}
    _, first = pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    _, again = pretrained_autoencoder(x, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert not first["ae_cached"] and again["ae_cached"] and again["ae_file"] == first["ae_file"]
    _, other = pretrained_autoencoder(x, {**settings, "epochs": 21}, seed=0, device=torch.device("cpu"),
                                      cache_dir=tmp_path)
    _, shifted = pretrained_autoencoder(x + 1, settings, seed=0, device=torch.device("cpu"), cache_dir=tmp_path)
    assert not other["ae_cached"] and not shifted["ae_cached"]
    assert len(list(tmp_path.glob("ae-*.safetensors"))) == 3


# ---- DEC and the k-means pick -----------------------------------------------------------------------
def test_dec_reports_the_iterations_it_ran(train_blobs):
    x, _ = train_blobs
    capped = build_head("dec", K, seed=0, **{**SMALL["dec"], "max_iter": 7, "tol": 0.0}).fit(x)
    assert (capped.info["dec_stopped"], capped.info["dec_iterations"]) == ("max_iter", 7)


def test_dec_fixed_batch_order_recovers_blobs_and_unknown_orders_are_refused(train_blobs, tmp_path):
    """DEC-keras's batch order (contiguous slices, never reshuffled) is a working alternative, not a typo trap."""
    x, y = train_blobs
    head = build_head("dec", K, seed=0, **{**SMALL["dec"], "batch_order": "fixed"})
    assert cluster_accuracy(y, head.fit(x).predict(x)) >= 0.95
    head.save(tmp_path / "dec")
    assert load_head(tmp_path / "dec").params["batch_order"] == "fixed"
    with pytest.raises(ValueError, match="batch_order='sorted'.*'shuffle'.*'fixed'"):
        build_head("dec", K, batch_order="sorted")


def test_even_pick_keeps_the_most_even_of_the_near_tied_restarts():
    """pick="even" returns one of its own restarts: within NEAR_TIE of the lowest objective, and no restart
    that close has more even sizes. Uniform 2-d data has many near-tied k-means optima, so the rule is exercised."""
    x = np.random.default_rng(1).uniform(size=(3000, 2)).astype(np.float32)
    k, n_init, seed = 5, 12, 3

    def objective(c):
        return float(((x - c[nearest_centroid(x, c)]) ** 2).sum())

    restarts = [kmeans_centroids(x, k, n_init=1, seed=seed * n_init + r) for r in range(n_init)]
    picked = kmeans_centroids(x, k, n_init=n_init, seed=seed, pick="even")
    assert any(np.array_equal(picked, c) for c in restarts)
    lowest = min(objective(c) for c in restarts)
    ties = [c for c in restarts if objective(c) <= lowest * (1 + NEAR_TIE)]
    evenness = [size_evenness(nearest_centroid(x, c), k) for c in ties]
    assert objective(picked) <= lowest * (1 + NEAR_TIE) * (1 + 1e-6)
    assert size_evenness(nearest_centroid(x, picked), k) == pytest.approx(max(evenness))
    lowest_restart = min(restarts, key=objective)
    assert size_evenness(nearest_centroid(x, picked), k) > size_evenness(nearest_centroid(x, lowest_restart), k)
    assert objective(picked) > lowest  # here the most even tie is not the lowest: the rule, not a coincidence


@pytest.mark.parametrize("method", ["ae_kmeans", "dec", "vade"])
def test_kmeans_pick_is_checked_before_any_work(method):
    with pytest.raises(ValueError, match="pick='balanced' is unknown.*'lowest'.*'even'"):
        build_head(method, K, kmeans_pick="balanced")


def test_ae_kmeans_with_even_pick_recovers_blobs(train_blobs):
    x, y = train_blobs
    head = build_head("ae_kmeans", K, seed=0, kmeans_pick="even", **SMALL["ae_kmeans"]).fit(x)
    assert cluster_accuracy(y, head.predict(x)) >= 0.95


# ---- VaDE -------------------------------------------------------------------------------------------
def test_vade_responsibilities_survive_far_points():
    """log-sum-exp: a code far from every component still gets a proper distribution, not 0/0."""
    m = VaDEModel(input_dim=6, hidden=[8], code_dim=2, k=3)
    logits = m.log_joint(torch.tensor([[1e4, -1e4]]))
    gamma = torch.softmax(logits, dim=1)
    assert torch.isfinite(gamma).all() and torch.allclose(gamma.sum(), torch.tensor(1.0))
    with torch.no_grad():
        m.pi_logits.copy_(torch.tensor([-50.0, 0.0, 80.0]))
    assert torch.isfinite(m.loss(torch.randn(5, 6))).all()


def test_vade_first_epochs_of_a_longer_run_are_the_shorter_run(train_blobs, tmp_path):
    """benchmarks/heads/vade_epochs_probe.py reports a long run's state after E epochs as a run of E epochs:
    that holds only if training draws the same random streams whatever the total length."""
    x, _ = train_blobs
    seen = {}

    class Probed(VaDE):
        def _epoch_end(self, epoch: int, loss: float) -> None:
            seen[epoch] = (loss, self._predict(x))

    params = {**SMALL["vade"], "epochs": 4}
    longer = Probed(K, seed=0, **params)
    longer.ae_cache = tmp_path
    longer.fit(x)
    shorter = VaDE(K, seed=0, **{**params, "epochs": 3})
    shorter.ae_cache = tmp_path
    shorter.fit(x)
    assert sorted(seen) == [1, 2, 3, 4] and shorter.info["ae_cached"]
    assert shorter.info["vade_loss"] == seen[3][0] != seen[4][0]
    np.testing.assert_array_equal(shorter.predict(x), seen[3][1])
    with pytest.raises(ValueError, match="vade needs epochs >= 1, got 0"):
        VaDE(K, epochs=0)


def test_vade_kmeans_prior_starts_from_the_partition_moments(train_blobs, tmp_path):
    """prior_init="kmeans": each component starts at the mean and variance of its k-means cell (no EM), and the
    head still recovers separated clusters; a cell of one code falls back to the centroid and global variance."""
    from deepcluster.heads.vade import partition_moments

    codes = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [10.0, 14.0], [50.0, 50.0]])
    means, variances = partition_moments(codes, np.array([[1.0, 1.0], [9.0, 11.0], [49.0, 49.0]], np.float32))
    np.testing.assert_allclose(means, [[1.0, 0.0], [10.0, 12.0], [49.0, 49.0]])
    np.testing.assert_allclose(variances, [[1.0, 0.0], [0.0, 4.0], codes.var(axis=0)])

    x, y = train_blobs
    head = VaDE(K, seed=0, prior_init="kmeans", **{**SMALL["vade"], "epochs": 1})
    head.ae_cache = tmp_path
    head.fit(x)
    assert head.params["prior_init"] == "kmeans" and "gmm_converged" not in head.info
    assert cluster_accuracy(y, head.predict(x)) >= 0.95
    with pytest.raises(ValueError, match="prior_init='em' is unknown; use one of gmm, kmeans"):
        VaDE(K, prior_init="em")


# ---- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_refused(bad):
    x, _ = blobs(10, seed=0)
    x[3, 2] = bad
    with pytest.raises(ValueError, match="NaN or Inf in 1 of 40 rows"):
        build_head("kmeans", K).fit(x)


def test_k_larger_than_n_is_refused():
    with pytest.raises(ValueError, match="k=50 is larger than the 40 samples"):
        build_head("dec", 50).fit(blobs(10, seed=0)[0])


def test_shape_errors():
    with pytest.raises(ValueError, match="2-D"):
        check_features(np.zeros(5))
    head = build_head("kmeans", K).fit(blobs(10, seed=0)[0])
    with pytest.raises(ValueError, match="3 dims but the head was fitted on 20"):
        head.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown clustering method"):
        build_head("gmm", K)


def test_features_file_length_mismatch(tmp_path):
    path = tmp_path / "feats.npz"
    np.savez(path, features=np.zeros((10, 3), np.float32), labels=np.zeros(9, np.int64))
    with pytest.raises(ValueError, match="'features' has 10 rows but 'labels' has 9"):
        load_features_file(path)
    np.savez(path, features=np.full((4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN or Inf"):
        load_features_file(path)


# ---- a small real subset ----------------------------------------------------------------------------
@pytest.mark.skipif(not FMNIST.is_dir(), reason="Fashion-MNIST is not installed")
def test_real_fashion_mnist_subset(tmp_path):
    from deepcluster.heads.inputs import load_inputs

    x, y, _ = load_inputs("fashion_mnist", None, None, None, limit=1000)
    assert x.shape == (1000, 784) and 0.0 <= x.min() and x.max() <= 1.0
    real = {"ae_epochs": 8, "ae_hidden": [256, 64]}
    params = {"kmeans": {}, "ae_kmeans": real, "dec": {**real, "max_iter": 150}, "vade": {**real, "epochs": 3},
              "spectralnet": {**real, "iters": 100, "batch_size": 500, "hidden": [128, 64]},
              "spectral": {"assign": "balanced"}}
    for method, p in params.items():
        head = build_head(method, 10, seed=0, **p)
        head.ae_cache = tmp_path
        acc = cluster_accuracy(y, head.fit(x).predict(x))
        assert acc > 0.35, f"{method} reached only ACC {acc:.3f} on 1,000 Fashion-MNIST images"

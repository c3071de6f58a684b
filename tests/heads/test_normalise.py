"""Feature normalisation in front of a head (launch/cluster.py --normalise): the transforms, and the saved
file written atomically."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from deepcluster.heads.normalise import FeatureNormaliser

from .conftest import assert_written_atomically


def test_a_saved_normaliser_is_written_atomically_and_replaces_the_previous_one(tmp_path):
    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    FeatureNormaliser("l2").save(tmp_path / "normaliser.npz")
    whiten = FeatureNormaliser("whiten:4").fit(x)
    whiten.save(tmp_path / "normaliser.npz")
    assert_written_atomically(tmp_path / "normaliser.npz")
    loaded = FeatureNormaliser.load(tmp_path / "normaliser.npz")
    assert loaded.spec == "whiten:4"
    np.testing.assert_array_equal(loaded.transform(x), whiten.transform(x))


def anisotropic(n=500, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * np.geomspace(100, 0.1, d)).astype(np.float32)


def test_whitening_gives_unit_rows_and_equalised_axes():
    x = anisotropic()
    z = FeatureNormaliser("whiten:4").fit_transform(x)
    assert z.shape == (500, 4)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    # before L2 every kept axis has unit variance, so no axis dominates after it either
    spread = z.std(axis=0)
    assert spread.max() / spread.min() < 1.5, spread


def test_saved_normaliser_transforms_new_points_identically(tmp_path):
    x, new = anisotropic(seed=0), anisotropic(n=50, seed=1)
    fitted = FeatureNormaliser("whiten:6").fit(x)
    fitted.save(tmp_path / "n.npz")
    loaded = FeatureNormaliser.load(tmp_path / "n.npz")
    assert loaded.spec == "whiten:6"
    np.testing.assert_array_equal(loaded.transform(new), fitted.transform(new))


def test_l2_and_none():
    x = anisotropic()
    np.testing.assert_allclose(np.linalg.norm(FeatureNormaliser("l2").fit_transform(x), axis=1), 1.0, rtol=1e-5)
    assert FeatureNormaliser("none").fit_transform(x) is x


@pytest.mark.parametrize("spec", ["whiten", "whiten:0", "pca:8", "L2"])
def test_bad_spec_is_refused_with_the_choices(spec):
    with pytest.raises(ValueError, match="whiten:D"):
        FeatureNormaliser(spec)


def test_whitening_to_more_dims_than_features_is_refused():
    with pytest.raises(ValueError, match="D <= 12"):
        FeatureNormaliser("whiten:20").fit(anisotropic())


def test_whitening_says_what_it_fits_with_sizes_and_how_long_it_took(caplog):
    caplog.set_level(logging.INFO, logger="deepcluster.heads.normalise")
    FeatureNormaliser("whiten:4").fit_transform(anisotropic())
    said = caplog.text
    assert "whiten:4: PCA with faiss on 500 x 12 features (0 MB): the 12 x 12 covariance" in said
    assert "whiten:4: PCA fitted in" in said and "(4 of 4 axes have variance" in said
    assert "whiten:4: 500 rows -> 500 x 4 in" in said

"""What the heads run on (inputs.py): features files are checked before anything runs, and read with their
size logged."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from deepcluster.heads import inputs
from deepcluster.heads.inputs import load_features_file


def test_features_file_length_mismatch(tmp_path):
    path = tmp_path / "feats.npz"
    np.savez(path, features=np.zeros((10, 3), np.float32), labels=np.zeros(9, np.int64))
    with pytest.raises(ValueError, match="'features' has 10 rows but 'labels' has 9"):
        load_features_file(path)
    np.savez(path, features=np.full((4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN or Inf"):
        load_features_file(path)


@pytest.mark.parametrize("order, compressed", [("C", False), ("F", False), ("C", True)])
def test_features_file_read_in_pieces_equals_numpy_and_logs_its_size(tmp_path, monkeypatch, caplog, order,
                                                                     compressed):
    caplog.set_level(logging.INFO, logger="deepcluster.heads.inputs")
    monkeypatch.setattr(inputs, "READ_CHUNK_BYTES", 1000)  # many pieces, the last one short
    features = np.asarray(np.random.default_rng(0).normal(size=(301, 7)), dtype=np.float32, order=order)
    path = tmp_path / "feats.npz"
    (np.savez_compressed if compressed else np.savez)(path, features=features, labels=np.arange(301))
    x, y = load_features_file(path, progress=True)
    np.testing.assert_array_equal(x, features)
    np.testing.assert_array_equal(y, np.arange(301))
    assert f"reading features file {path}: 301 x 7 float32 (0 MB)" in caplog.text
    assert "read 301 x 7 features and labels in" in caplog.text

"""What the heads run on (inputs.py): features files are checked before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

from deepcluster.heads.inputs import load_features_file


def test_features_file_length_mismatch(tmp_path):
    path = tmp_path / "feats.npz"
    np.savez(path, features=np.zeros((10, 3), np.float32), labels=np.zeros(9, np.int64))
    with pytest.raises(ValueError, match="'features' has 10 rows but 'labels' has 9"):
        load_features_file(path)
    np.savez(path, features=np.full((4, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="NaN or Inf"):
        load_features_file(path)

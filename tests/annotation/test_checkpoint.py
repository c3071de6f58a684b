"""Annotating a real (tiny) training run: its stored clusters, its own images, a PNG tree for in-memory data."""

from __future__ import annotations

import numpy as np
import pytest
from torchvision.datasets import ImageFolder

from conftest import run_train
from deepcluster.annotation import make_spec, open_session, write_image_folder
from deepcluster.annotation.thumbnails import Thumbnails
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint


@pytest.mark.slow
def test_a_run_is_annotated_from_its_stored_assignments(tmp_path, fashion_mnist_root):
    run_dir = tmp_path / "run"
    result = run_train(["--config", "configs/fashion_mnist.yaml", f"run_dir={run_dir}", "data.limit=300",
                        "cluster.k=5", "cluster.pca_dim=8", "model.width=8", "model.mlp_dim=16", "train.epochs=1",
                        "log.tensorboard=false", "eval.knn_every=0"])
    assert result.returncode == 0, result.stderr
    stored = load_checkpoint(list_checkpoints(run_dir / "checkpoints")[0])["assignments"].numpy()
    session = open_session(tmp_path / "ann", make_spec(checkpoint=str(run_dir)))
    store = session.store
    assert store.meta("info")["origin"] == "checkpoint assignments"
    assert sorted(c["size"] for c in store.clusters()) == sorted(np.bincount(stored)[np.bincount(stored) > 0])
    c = store.clusters()[0]
    members = [m["idx"] for m in store.members(c["id"])[1]]
    assert set(members) == set(np.flatnonzero(stored == c["id"]).tolist())
    assert Thumbnails(session.source).side == 84  # 28 px shown 3x
    store.apply({"kind": "name", "cluster": c["id"], "label": "first"})
    tree = write_image_folder(store, session.source, tmp_path / "tree")
    assert tree["mode"] == "copies" and len(ImageFolder(str(tmp_path / "tree"))) == c["size"]
    store.close()
    again = open_session(tmp_path / "ann", make_spec(checkpoint=str(run_dir)))  # the same command resumes
    assert again.store.progress()["labelled"] == c["size"] and not again.created
    again.store.close()

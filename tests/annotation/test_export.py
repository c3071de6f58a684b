"""Exports of an annotation: CSV, JSON and an image-folder tree that both our data loader and torchvision's
ImageFolder read back; and the command's export flags."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torchvision.datasets import ImageFolder

from deepcluster.annotation import make_spec, open_session, write_image_folder, write_labels_csv, write_labels_json
from deepcluster.annotation.export import folder_name
from deepcluster.cli.annotate import main
from deepcluster.config import DataConfig
from deepcluster.data import TensorSource, build_source
from .tiny_dataset import write_features_dataset
from .test_store import make_store


@pytest.fixture
def labelled(tmp_path):
    """The shapes annotated: two clusters named, one stray moved, one image unsure."""
    folder, features = write_features_dataset(tmp_path)
    session = open_session(tmp_path / "ann", make_spec(features=str(features), data="imagefolder",
                                                       data_root=str(folder), k=3))
    store = session.store
    clusters = {}
    for c in store.clusters():
        members = store.members(c["id"])[1]
        clusters[c["id"]] = members[0]["key"].split("/")[0]  # named after its nearest member's class
    for c, name in clusters.items():
        if name != "stripes":
            store.apply({"kind": "name", "cluster": c, "label": name})
    stray = store.members(next(c for c, n in clusters.items() if n == "disc"))[1][-1]
    target = next(c for c, n in clusters.items() if n == stray["key"].split("/")[0])
    store.apply({"kind": "move", "items": [stray["idx"]], "to": target})
    store.apply({"kind": "unsure", "items": [store.members(target)[1][0]["idx"]]})
    yield session, tmp_path
    store.close()


def test_csv_and_json(labelled):
    session, tmp = labelled
    with open(write_labels_csv(session.store, tmp / "labels.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["key", "label", "source", "cluster", "index"] and len(rows) == 36
    by_source = {s: sum(r["source"] == s for r in rows) for s in ("cluster", "unsure", "")}
    assert by_source["unsure"] == 1 and by_source["cluster"] + by_source[""] + 1 == 36
    assert all(r["label"] == "" for r in rows if r["source"] in ("", "unsure"))
    document = json.loads(write_labels_json(session.store, tmp / "labels.json").read_text())
    assert document["progress"]["actions"] == 4 and len(document["labels"]) == 36
    assert document["clusters_from"].startswith("k-means")


@pytest.mark.parametrize("copy", [False, True])
def test_image_folder_tree_reads_back(labelled, copy):
    session, tmp = labelled
    tree = write_image_folder(session.store, session.source, tmp / "tree", copy=copy)
    labelled_rows = [r for r in session.store.labels() if r["label"]]
    assert tree["images"] == len(labelled_rows) and tree["mode"] == ("copies" if copy else "symlinks")
    files = sorted(p for p in (tmp / "tree").rglob("*") if not p.is_dir())
    assert len(files) == len(labelled_rows) and all(p.is_symlink() != copy for p in files)
    ours = build_source(DataConfig(name="imagefolder", root=str(tmp / "tree")))
    theirs = ImageFolder(str(tmp / "tree"))
    assert len(ours) == len(theirs) == len(labelled_rows)
    assert theirs.classes == sorted({r["label"] for r in labelled_rows})
    expected = {r["key"].replace("/", "__"): r["label"] for r in labelled_rows}
    assert {k.split("/")[1]: theirs.classes[lab] for k, lab in zip(ours.keys, ours.labels.tolist())} == expected
    image, _ = theirs[0]
    assert image.size == (40, 40)
    write_image_folder(session.store, session.source, tmp / "tree", copy=copy)  # again: replaced, not doubled
    assert len(list((tmp / "tree").rglob("*.png"))) == len(labelled_rows)


def test_in_memory_images_are_written_as_png(tmp_path):
    store = make_store(tmp_path / "ann")
    store.apply({"kind": "name", "cluster": 0, "label": "../../escape"})
    store.apply({"kind": "name", "cluster": 1, "label": "b"})
    images = torch.arange(10 * 28 * 28, dtype=torch.int64).remainder(256).to(torch.uint8).reshape(10, 1, 28, 28)
    source = TensorSource(labels=None, keys=[f"img_{i}.png" for i in range(10)], channels=1, image_size=28,
                          mean=(0.5,), std=(0.5,), images=images)
    tree = write_image_folder(store, source, tmp_path / "tree")
    assert tree["mode"] == "copies" and tree["labels"]["../../escape"] == "_.._.._escape"
    dataset = ImageFolder(str(tmp_path / "tree"))
    assert len(dataset) == 7 and dataset.classes == ["_.._.._escape", "b"]
    assert np.array_equal(np.asarray(dataset[0][0].convert("L")), images[0, 0].numpy())
    assert not (tmp_path / "escape").exists()
    store.close()


def test_folder_names_are_one_safe_component():
    assert folder_name("a/b") == "a_b" and folder_name("..") == "_.." and folder_name("") == "_"
    assert folder_name(".hidden") == "_.hidden" and folder_name("T-shirt/top") == "T-shirt_top"


def test_command_exports_without_a_server(labelled, capsys):
    session, tmp = labelled
    session.store.close()
    out = str(tmp / "ann")
    assert main(["--out", out, "--export-csv", str(tmp / "c.csv"), "--export-json", str(tmp / "j.json"),
                 "--export-folder", str(tmp / "t")]) == 0
    assert (tmp / "c.csv").read_text().count("\n") == 37 and (tmp / "t").is_dir()
    assert "labelled images" in capsys.readouterr().out
    # other inputs for the same folder are refused, naming what differs
    assert main(["--out", out, "--features", str(tmp / "features.npz"), "--data", "imagefolder",
                 "--data-root", str(tmp / "shapes"), "--k", "4", "--export-csv", str(tmp / "x.csv")]) == 2
    assert "k=4" in capsys.readouterr().err
    assert main(["--out", str(tmp / "nothing"), "--export-csv", str(tmp / "x.csv")]) == 2
    assert main(["--out", out, "--k", "3"]) == 2

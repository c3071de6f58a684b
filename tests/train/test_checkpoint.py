import logging

import torch

from deepcluster.train.checkpoint import list_checkpoints, load_latest_checkpoint, save_checkpoint


def state(epoch):
    return {"epoch": epoch, "model": {"w": torch.full((3,), float(epoch))}, "rng": {"torch": torch.get_rng_state()}}


def test_keeps_the_last_few_and_leaves_no_temp_files(tmp_path):
    for epoch in range(5):
        save_checkpoint(state(epoch), tmp_path, epoch, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["epoch_0004.pt", "epoch_0003.pt"]
    assert not list(tmp_path.glob(".*tmp"))


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    for epoch in range(3):
        save_checkpoint(state(epoch), tmp_path, epoch, keep=3)
    newest = tmp_path / "epoch_0002.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as after a crash mid-copy
    with caplog.at_level(logging.WARNING):
        loaded, path = load_latest_checkpoint(tmp_path)
    assert path.name == "epoch_0001.pt" and loaded["epoch"] == 1
    assert "epoch_0002.pt is unreadable" in caplog.text


class Payload:
    """Any class: a pickle that would run code on load."""


def test_checkpoints_refuse_pickled_objects(tmp_path):
    torch.save({"epoch": 0, "model": {}, "evil": Payload()}, tmp_path / "epoch_0000.pt")
    assert load_latest_checkpoint(tmp_path) is None  # weights_only refuses arbitrary objects

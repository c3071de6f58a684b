"""The one file writer: a failed write leaves the previous version and no temporary file; a full disk says so."""

import os
import stat

import pytest
import torch

from conftest import small_tmpfs
from deepcluster.atomic import DiskFull, atomic_open, write_json_atomic, write_text_atomic


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "eval.json"
    write_json_atomic(path, {"epoch": 1})
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_open(path, "w") as f:
            f.write('{"epoch": 2, "half')
            raise RuntimeError("crash while writing")
    assert path.read_text() == '{\n  "epoch": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json"]


def test_files_get_the_usual_permissions_and_take_any_writer(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        with atomic_open(tmp_path / "w.pt") as f:
            torch.save({"w": torch.ones(2)}, f)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert torch.equal(torch.load(tmp_path / "w.pt", weights_only=True)["w"], torch.ones(2))


def test_only_whole_file_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="must contain 'w'"):
        with atomic_open(tmp_path / "log.jsonl", "a"):
            pass


@pytest.fixture
def tiny_disk(tmp_path):
    with small_tmpfs(tmp_path / "disk", "256k") as mount:
        yield mount


def test_a_full_disk_names_the_folder_keeps_the_old_version_and_cleans_up(tiny_disk):
    path = tiny_disk / "checkpoint.pt"
    with atomic_open(path) as f:
        torch.save({"epoch": 1}, f)
    before = path.read_bytes()
    with pytest.raises(DiskFull) as err:
        with atomic_open(path) as f:
            torch.save({"epoch": 2, "weights": torch.zeros(200_000)}, f)  # 800 KB on a 256 KiB disk
    message = str(err.value)
    assert str(tiny_disk) in message and "free space there" in message and "previous version is intact" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["checkpoint.pt"]

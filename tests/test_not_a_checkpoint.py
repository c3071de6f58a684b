"""A file that is not a checkpoint is called that, in one line, never with torch's weights_only=False advice."""

from __future__ import annotations

import pickle
import zipfile
from collections import Counter

import numpy as np
import pytest
import torch

from conftest import REPO
from deepcluster.cli.export import main as export_main
from deepcluster.pretrained import NotACheckpoint, load_pretrained


class NotATensor:
    pass


def _text(path):
    path.write_text("# notes\nnot weights\n")


def _empty(path):
    path.write_bytes(b"")


def _zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "hi")


def _npz(path):
    with open(path, "wb") as f:
        np.savez(f, a=np.zeros(2))


def _pickle(path):
    with open(path, "wb") as f:
        pickle.dump({"counts": Counter("abc")}, f)


def _torch_objects(path):
    torch.save({"model": {}, "config": {}, "epoch": 0, "payload": NotATensor()}, path)


def _tensor(path):
    torch.save(torch.zeros(3), path)


def _other_dict(path):
    torch.save({"weights": torch.zeros(1)}, path)


def _truncated(path):
    torch.save({"model": {"w": torch.zeros(1000)}, "config": {}, "epoch": 0}, path)
    path.write_bytes(path.read_bytes()[:300])


CASES = {
    "text": (_text, "a text file"),
    "empty": (_empty, "an empty file"),
    "zip": (_zip, "a zip archive (a.txt), not a torch file"),
    "npz": (_npz, "a zip archive"),
    "pickle": (_pickle, "a Python pickle"),
    "objects": (_torch_objects, "holds Python objects such as test_not_a_checkpoint.NotATensor; "),
    "tensor": (_tensor, "holding a Tensor"),
    "other_dict": (_other_dict, "it lacks ['model', 'config', 'epoch']"),
    "truncated": (_truncated, "damaged or truncated"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_pretrained_names_what_the_file_is(tmp_path, case):
    make, what = CASES[case]
    path = tmp_path / f"{case}.pt"
    make(path)
    with pytest.raises(NotACheckpoint) as info:
        load_pretrained(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not a deepcluster checkpoint (") and what in message
    assert "\n" not in message and "weights_only=False" not in message and "Re-running" not in message
    assert isinstance(info.value, ValueError)  # callers that catch ValueError keep working


def test_cli_export_of_the_readme_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert export_main(["--checkpoint", "README.md", "--out", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: README.md is not a deepcluster checkpoint (a text file); pass a file from")
    assert err.count("\n") == 1 and "weights_only=False" not in err
    assert not (tmp_path / "exp").exists()  # refused before anything was written


def test_export_files_point_to_their_directory(tmp_path):
    (tmp_path / "model_card.json").write_text("{}")
    with pytest.raises(NotACheckpoint, match=f"it belongs to an export: pass its directory {tmp_path}"):
        load_pretrained(tmp_path / "model_card.json")

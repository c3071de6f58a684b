"""Hyperparameter values (hyperparameters.py): converted to their default's type where nothing is lost, else a
clear error. Values from a command line arrive as YAML scalars: usually typed, sometimes strings ("1e-3")."""

from __future__ import annotations

import numpy as np
import pytest

from deepcluster.heads import build_head, load_head
from deepcluster.heads.hyperparameters import as_bool, as_float, as_int, as_int_list, coerce

from .conftest import K, blobs


@pytest.mark.parametrize("value, expected", [(30, 30), (30.0, 30), ("30", 30), (" 30 ", 30), ("2e4", 20000),
                                             ("30.0", 30), (np.int64(30), 30), (np.float32(30.0), 30)])
def test_integers_are_taken_when_whole(value, expected):
    result = as_int("dec", "max_iter", value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value, message", [
    (30.5, "dec max_iter must be an integer, got 30.5; a fraction is not rounded"),
    ("30.5", "dec max_iter must be an integer, got '30.5'; a fraction is not rounded"),
    (True, "dec max_iter must be an integer, got True (bool)"),
    ("many", "dec max_iter must be an integer, got 'many' (str)"),
    (float("inf"), "dec max_iter must be an integer, got inf (float)"),
    (None, "dec max_iter must be an integer, got None (NoneType)"),
])
def test_integers_refuse_what_would_be_truncated_or_guessed(value, message):
    with pytest.raises(ValueError, match=f"^{message.replace('(', '[(]').replace(')', '[)]')}$"):
        as_int("dec", "max_iter", value)


@pytest.mark.parametrize("value, expected", [("1e-3", 1e-3), ("0.01", 0.01), (1, 1.0), (0.5, 0.5),
                                             (np.float32(0.25), 0.25)])
def test_floats_accept_numbers_and_numeric_strings(value, expected):
    result = as_float("dec", "lr", value)
    assert result == expected and type(result) is float


@pytest.mark.parametrize("value", ["fast", "", True, float("nan"), float("inf"), "nan", [0.1], None])
def test_floats_refuse_anything_else(value):
    with pytest.raises(ValueError, match="dec lr must be a finite number, got "):
        as_float("dec", "lr", value)


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), ("true", True), ("False", False),
                                             ("yes", True), ("no", False), (1, True), (0, False),
                                             (np.bool_(True), True)])
def test_booleans_accept_the_usual_spellings(value, expected):
    assert as_bool("spectralnet", "siamese", value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, 0.5, None])
def test_booleans_refuse_anything_else(value):
    with pytest.raises(ValueError, match="spectralnet siamese must be true or false, got "):
        as_bool("spectralnet", "siamese", value)


@pytest.mark.parametrize("value", [[64, 64], (64, 64), [64.0, "64"], "[64, 64]", "64,64", " [64 ,64] "])
def test_integer_lists_accept_lists_and_their_spellings(value):
    assert as_int_list("dec", "ae_hidden", value) == [64, 64]


def test_integer_lists_refuse_non_lists_and_fractional_entries():
    assert as_int_list("dec", "ae_hidden", "[]") == []
    with pytest.raises(ValueError, match="dec ae_hidden must be a list of integers"):
        as_int_list("dec", "ae_hidden", 64)
    with pytest.raises(ValueError, match="dec ae_hidden entry must be an integer, got 64.5; a fraction"):
        as_int_list("dec", "ae_hidden", [64.5])


def test_strings_stay_strings_and_other_values_for_them_are_refused():
    assert coerce("spectral", "assign", "balanced", "kmeans") == "balanced"
    with pytest.raises(ValueError, match="spectral assign must be a string, got 3 [(]int[)]"):
        coerce("spectral", "assign", 3, "kmeans")


def test_heads_store_converted_values_and_refuse_lossy_ones():
    """What a command line hands over as text or as a whole float becomes the head's own type, and is saved so."""
    dec = build_head("dec", K, max_iter=30.0, lr="1e-3", ae_hidden="[16]", ae_epochs="2", ae_lr="1e-2")
    p = dec.params
    assert (p["max_iter"], p["lr"], p["ae_hidden"], p["ae_epochs"], p["ae_lr"]) == (30, 1e-3, [16], 2, 1e-2)
    assert type(p["max_iter"]) is int and type(p["lr"]) is float and type(p["ae_epochs"]) is int
    net = build_head("spectralnet", K, use_autoencoder="false", siamese="true", hidden=(8.0, 8), n_init=np.int64(3))
    assert (net.params["use_autoencoder"], net.params["siamese"], net.params["hidden"]) == (False, True, [8, 8])
    assert type(net.params["n_init"]) is int  # JSON-able, so the head can be saved
    with pytest.raises(ValueError, match="dec max_iter must be an integer, got 30.5; a fraction is not rounded"):
        build_head("dec", K, max_iter=30.5)
    with pytest.raises(ValueError, match="vade lr must be a finite number, got 'fast'"):
        build_head("vade", K, lr="fast")
    with pytest.raises(ValueError, match="spectralnet ortho_grad must be true or false, got 'sometimes'"):
        build_head("spectralnet", K, ortho_grad="sometimes")
    with pytest.raises(ValueError, match="kmeans k must be an integer, got 2.5; a fraction is not rounded"):
        build_head("kmeans", 2.5)


def test_a_head_built_from_text_values_saves_and_loads(tmp_path):
    x, _ = blobs(20, seed=0)
    head = build_head("kmeans", "4", seed="1", n_init="3", n_iter=20.0).fit(x)
    head.save(tmp_path / "km")
    restored = load_head(tmp_path / "km")
    assert restored.params == {"k": 4, "seed": 1, "n_init": 3, "n_iter": 20}
    np.testing.assert_array_equal(restored.predict(x), head.predict(x))

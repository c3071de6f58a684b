"""build_head and load_head (registry.py): method names, and misspelt hyperparameters answered with the valid ones."""

from __future__ import annotations

import pytest

from deepcluster.heads import HEADS, build_head
from deepcluster.heads.ae_head import AE_DEFAULTS
from deepcluster.heads.dec import DEC

from .conftest import K


def test_a_misspelt_hyperparameter_names_the_closest_valid_one_and_lists_them_all():
    with pytest.raises(ValueError) as err:
        build_head("dec", 10, 0, max_iters=5)
    message = str(err.value)
    assert message.startswith("unknown hyperparameter 'max_iters' for dec; did you mean 'max_iter'? valid: ")
    valid = message.split("valid: ")[1].split(", ")
    assert valid == sorted(valid) and {"max_iter", "update_interval", "ae_epochs", "ae_lr"} <= set(valid)
    assert "k" not in valid and "seed" not in valid


@pytest.mark.parametrize("method, name, suggestion", [
    ("kmeans", "n_inits", "n_init"),
    ("spectral", "neighbors", "n_neighbors"),
    ("vade", "ae_epoch", "ae_epochs"),
    ("spectralnet", "use_auto_encoder", "use_autoencoder"),
    ("ae_kmeans", "ninit", "n_init"),
])
def test_every_head_refuses_a_misspelt_name_before_any_work(method, name, suggestion):
    with pytest.raises(ValueError, match=f"unknown hyperparameter '{name}' for {method}; "
                                         f"did you mean '{suggestion}'\\? valid: "):
        build_head(method, K, **{name: 1})


def test_a_name_with_no_close_match_gets_the_list_and_several_are_reported_together():
    with pytest.raises(ValueError, match=r"^unknown hyperparameter 'zzz' for kmeans; valid: n_init, n_iter$"):
        build_head("kmeans", K, zzz=1)
    with pytest.raises(ValueError, match=r"unknown hyperparameters 'n_inits' \(did you mean 'n_init'\?\), "
                                         r"'zzz' for kmeans; valid: n_init, n_iter"):
        build_head("kmeans", K, n_inits=1, zzz=1)


def test_an_autoencoder_head_built_directly_refuses_a_misspelt_name_too():
    with pytest.raises(ValueError, match="unknown hyperparameter 'max_iters' for dec; did you mean 'max_iter'"):
        DEC(K, max_iters=5)


@pytest.mark.parametrize("method, name", [("ae_kmeans", "kmeans_pick"), ("dec", "kmeans_pick"),
                                          ("dec", "batch_order"), ("vade", "prior_init"), ("vade", "kmeans_pick")])
def test_removed_study_options_are_refused_not_ignored(method, name):
    with pytest.raises(ValueError, match=f"unknown hyperparameter '{name}' for {method}"):
        build_head(method, K, **{name: "lowest"})


def test_every_head_lists_its_hyperparameters_with_defaults():
    for method, head_class in HEADS.items():
        defaults = head_class.hyperparameters()
        assert "k" not in defaults and "seed" not in defaults
        head = build_head(method, K)
        assert set(head.params) == {"k", "seed", *defaults}, method
        autoencoder = method in ("ae_kmeans", "dec", "vade", "spectralnet")
        assert (set(AE_DEFAULTS) <= set(defaults)) == autoencoder, method

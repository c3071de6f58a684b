"""DEC (dec.py): how it reports the iterations it ran."""

from __future__ import annotations

from deepcluster.heads import build_head

from .conftest import K, SMALL


def test_dec_reports_the_iterations_it_ran(train_blobs):
    x, _ = train_blobs
    capped = build_head("dec", K, seed=0, **{**SMALL["dec"], "max_iter": 7, "tol": 0.0}).fit(x)
    assert (capped.info["dec_stopped"], capped.info["dec_iterations"]) == ("max_iter", 7)

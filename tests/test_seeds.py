"""Random streams: one per (seed, purpose, epoch, rank), none shared, the same every time they are asked for."""

import itertools

import numpy as np
import torch

from deepcluster.seeds import Purpose, numpy_rng, stream_seed, torch_generator


def test_no_two_streams_coincide_for_world_sizes_up_to_64():
    """Rank 10's dropout stream must not be rank 0's crop stream (the old ``10 + rank`` / ``20 + rank`` offsets)."""
    seen: dict[int, tuple] = {}
    for seed, purpose, epoch, rank in itertools.product((0, 1), Purpose, range(12), range(64)):
        value = stream_seed(seed, purpose, epoch, rank)
        assert value not in seen, f"{(seed, purpose.name, epoch, rank)} repeats {seen[value]}"
        seen[value] = (seed, purpose.name, epoch, rank)
    first_draws = {numpy_rng(0, p, 3, r).integers(2**62) for p in Purpose for r in range(64)}
    assert len(first_draws) == len(Purpose) * 64


def test_streams_are_pure_functions_of_their_key():
    """What makes a resumed run draw exactly what an uninterrupted one would."""
    assert stream_seed(7, Purpose.AUGMENT, 5, 3) == stream_seed(7, Purpose.AUGMENT, 5, 3)
    a = torch.randn(4, generator=torch_generator(7, Purpose.TOP_LAYER, 2))
    b = torch.randn(4, generator=torch_generator(7, Purpose.TOP_LAYER, 2))
    assert torch.equal(a, b)
    first, again = (numpy_rng(1, Purpose.RESEED, 4).permutation(10) for _ in range(2))
    assert np.array_equal(first, again)


def test_seed_widths_fit_the_libraries_that_take_them():
    keys = itertools.product(range(3), Purpose, range(5), (0, 63))
    values = [stream_seed(s, p, e, r, bits=31) for s, p, e, r in keys]
    assert all(0 <= v < 2**31 for v in values)  # faiss's seed is a C int
    assert all(0 <= stream_seed(s, Purpose.INIT) < 2**63 for s in range(100))  # torch.manual_seed takes 64 bits


def test_purposes_are_never_renumbered():
    """A purpose's number is part of every stream's key: renumbering one changes old runs on resume."""
    assert [(p.name, p.value) for p in Purpose][:5] == [
        ("INIT", 1), ("DROPOUT", 2), ("TOP_LAYER", 3), ("AUGMENT", 4), ("KMEANS", 5)]
    assert len({p.value for p in Purpose}) == len(Purpose)

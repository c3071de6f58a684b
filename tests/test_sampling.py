import numpy as np

from deepcluster.sampling import rank_slice, uniform_cluster_indices


def skewed_assignments():
    sizes = [500, 120, 40, 7, 1]  # very unequal clusters; one singleton
    return np.repeat(np.arange(5), sizes)


def test_every_cluster_gets_the_same_count():
    assignments = skewed_assignments()
    indices = uniform_cluster_indices(assignments, seed=0, epoch=0)
    counts = np.bincount(assignments[indices], minlength=5)
    assert np.all(counts == counts[0]) and counts[0] == -(-668 // 5)
    assert len(indices) == 5 * counts[0]


def test_replacement_only_for_small_clusters():
    assignments = skewed_assignments()
    indices = uniform_cluster_indices(assignments, seed=1, epoch=0)
    big = indices[assignments[indices] == 0]
    assert len(np.unique(big)) == len(big), "a large cluster is sampled without replacement"
    small = indices[assignments[indices] == 3]
    assert set(small) == set(np.flatnonzero(assignments == 3)), "a small cluster is used whole, then repeated"


def test_deterministic_per_seed_and_epoch():
    assignments = skewed_assignments()
    a = uniform_cluster_indices(assignments, seed=0, epoch=4)
    np.testing.assert_array_equal(a, uniform_cluster_indices(assignments, seed=0, epoch=4))
    assert not np.array_equal(a, uniform_cluster_indices(assignments, seed=0, epoch=5))
    assert not np.array_equal(a, uniform_cluster_indices(assignments, seed=1, epoch=4))


def test_unassigned_samples_are_never_drawn():
    assignments = skewed_assignments()
    assignments[[3, 600, 667]] = -1
    indices = uniform_cluster_indices(assignments, seed=0, epoch=0)
    assert not np.isin([3, 600, 667], indices).any()


def test_rank_slices_are_equal_length_and_disjoint():
    indices = uniform_cluster_indices(skewed_assignments(), seed=0, epoch=0)
    slices = [rank_slice(indices, r, 3) for r in range(3)]
    assert len({len(s) for s in slices}) == 1
    np.testing.assert_array_equal(np.concatenate(slices), indices[: 3 * len(slices[0])])

"""The streaming epoch plan: uniform over clusters across ranks, copies apart, equal steps, pure in (seed, epoch)."""

import numpy as np
import pytest

from deepcluster.sampling import shard_epoch_plan, uniform_cluster_indices

SIZES = [1500, 700, 400, 200, 120, 50, 20, 10]  # 3,000 samples; clusters of 200 and 120 are drawn with replacement
BATCH = 64
LAYOUTS = [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)]  # (ranks, loader workers)


def skewed_assignments(seed=0):
    labels = np.repeat(np.arange(len(SIZES)), SIZES)
    return np.random.default_rng(seed).permutation(labels)


def uneven_shards(n=3000, seed=1):
    """Shards of 700, 700, 700, 500, 250, 150 samples, each in its own scrambled tar order."""
    rng = np.random.default_rng(seed)
    cuts = np.cumsum([700, 700, 700, 500, 250])
    return [rng.permutation(part) for part in np.split(np.arange(n), cuts)]


def plans(assignments, world, workers, seed=0, epoch=0, shards=None):
    shards = uneven_shards(len(assignments)) if shards is None else shards
    return [shard_epoch_plan(assignments, shards, seed, epoch, r, world, workers, BATCH) for r in range(world)]


def rank_batches(plan):
    """The rank's batches in the order training takes them (by number, whichever worker emits them)."""
    numbered = {int(n): b for s in plan.streams for n, b in zip(s.numbers, s.batches)}
    return [numbered[n] for n in range(len(numbered))]


@pytest.mark.parametrize("world,workers", LAYOUTS)
def test_cluster_counts_over_all_ranks_are_equal_within_one(world, workers):
    assignments = skewed_assignments()
    drawn = np.concatenate([b for p in plans(assignments, world, workers) for b in rank_batches(p)])
    counts = np.bincount(assignments[drawn], minlength=len(SIZES))
    assert counts.max() - counts.min() <= 1, counts
    uniform = uniform_cluster_indices(assignments, 0, 0)
    assert len(uniform) - world < len(drawn) <= len(uniform)  # the uniform list, less what does not split evenly


@pytest.mark.parametrize("world,workers", LAYOUTS)
def test_every_rank_takes_the_same_number_of_steps(world, workers):
    ranks = plans(skewed_assignments(), world, workers)
    per_rank = [sum(len(b) for b in rank_batches(p)) for p in ranks]
    assert len(set(per_rank)) == 1 and len({p.steps for p in ranks}) == 1
    for plan in ranks:
        assert len(plan.streams) == workers
        assert sorted(int(n) for s in plan.streams for n in s.numbers) == list(range(plan.steps))
        assert all(0 < len(b) <= BATCH for b in rank_batches(plan))


@pytest.mark.parametrize("world,workers", LAYOUTS)
def test_copies_of_a_sample_share_a_batch_only_in_clusters_smaller_than_the_batch(world, workers):
    assignments = skewed_assignments()
    small = {c for c, size in enumerate(SIZES) if size < BATCH}
    repeated = 0
    for plan in plans(assignments, world, workers):
        for batch in rank_batches(plan):
            values, counts = np.unique(batch, return_counts=True)
            assert all(assignments[v] in small for v in values[counts > 1]), "copies of a large cluster's sample"
        copies = np.bincount(np.concatenate(rank_batches(plan)), minlength=len(assignments))
        repeated += int((copies[~np.isin(assignments, list(small))] > 1).sum())
    assert repeated > 0, "the case is real: samples of large clusters are drawn more than once"


def test_copies_are_dealt_apart_even_in_small_clusters_when_the_window_has_the_batches():
    """One rank: 47 batches in one window, so the 10-member cluster's ~38 copies each go to 38 different batches."""
    assignments = skewed_assignments()
    (plan,) = plans(assignments, 1, 1)
    batches = rank_batches(plan)
    assert len(batches) == 47
    assert all(len(np.unique(b)) == len(b) for b in batches)
    copies = np.bincount(np.concatenate(batches), minlength=len(assignments))
    assert set(copies[assignments == len(SIZES) - 1].tolist()) <= {37, 38}  # 375 draws, dealt evenly over 10


def test_same_plan_for_the_same_seed_and_epoch_and_another_for_the_next():
    assignments = skewed_assignments()
    first, again = plans(assignments, 3, 2), plans(assignments, 3, 2)
    for a, b in zip(first, again):
        assert a.steps == b.steps
        for s, t in zip(a.streams, b.streams):
            assert s.shards == t.shards and np.array_equal(s.members, t.members) and np.array_equal(s.ready, t.ready)
            assert all(np.array_equal(x, y) for x, y in zip(s.batches, t.batches))
    other = plans(assignments, 3, 2, epoch=1)
    assert [s.shards for p in first for s in p.streams] != [s.shards for p in other for s in p.streams] or any(
        not np.array_equal(x, y) for p, q in zip(first, other) for x, y in zip(rank_batches(p), rank_batches(q)))


def test_shards_are_shuffled_by_epoch_and_dealt_as_runs():
    assignments = skewed_assignments()
    orders = set()
    for epoch in range(6):
        ranks = plans(assignments, 3, 1, epoch=epoch)
        read = [s for p in ranks for stream in p.streams for s in stream.shards]
        orders.add(tuple(dict.fromkeys(read)))
        # each shard is read by one rank, or by the two ranks on either side of a cut
        assert len(read) - len(set(read)) <= 2 and sorted(set(read)) == list(range(6))
    assert len(orders) > 1


def test_a_stream_reads_its_members_in_order_and_holds_a_window_at_most():
    """Simulate the reader: samples arrive in ``members`` order; a batch leaves once ``ready`` says so."""
    assignments = skewed_assignments()
    shards = uneven_shards()
    where = {int(i): s for s, members in enumerate(shards) for i in members}
    for plan in plans(assignments, 2, 2, shards=shards):
        for stream in plan.streams:
            assert [where[int(i)] for i in stream.members] == sorted(
                (where[int(i)] for i in stream.members), key=stream.shards.index)
            assert set(np.concatenate(stream.batches).tolist()) == set(stream.members.tolist())
            assert np.all(np.diff(stream.ready) >= 0) and stream.ready[-1] == len(stream.members)
            last = {int(i): j for j, b in enumerate(stream.batches) for i in b}
            held, most, due = set(), 0, 0
            for arrived, index in enumerate(stream.members.tolist(), start=1):
                held.add(index)
                most = max(most, len(held))
                while due < len(stream.batches) and stream.ready[due] <= arrived:
                    assert all(int(i) in held for i in stream.batches[due])
                    held -= {int(i) for i in stream.batches[due] if last[int(i)] == due}
                    due += 1
            assert due == len(stream.batches) and not held
            assert most <= 2 * 2048 + BATCH


def test_unassigned_samples_are_never_planned_and_too_few_draws_is_an_error():
    assignments = skewed_assignments()
    assignments[:100] = -1
    drawn = np.concatenate([b for p in plans(assignments, 2, 1) for b in rank_batches(p)])
    assert not np.isin(np.arange(100), drawn).any()
    tiny = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError, match="ranks"):
        shard_epoch_plan(tiny, [np.arange(2)], 0, 0, 0, 3, 1, BATCH)


def test_more_workers_than_batches_leaves_the_extra_streams_empty():
    big = shard_epoch_plan(skewed_assignments(), uneven_shards(), 0, 0, 0, 1, 16, 512)
    assert big.steps == 6 and sum(1 for s in big.streams if s.batches) == 6
    assert all(s.members.size == 0 and not s.shards for s in big.streams if not s.batches)

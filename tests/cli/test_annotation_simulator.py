"""benchmarks/annotation/simulate.py: the simulated annotator's arithmetic, on cases small enough to count by hand."""

from __future__ import annotations

import importlib.util

import numpy as np

from conftest import REPO


def load_simulator():
    spec = importlib.util.spec_from_file_location("simulate", REPO / "benchmarks/annotation/simulate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_largest_first_then_fixes_one_action_per_image():
    sim = load_simulator()
    # cluster 0: 6 members, majority 0, two strays (labels 1) placed farthest; cluster 1: 4 members, all 1
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    assignments = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    distances = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.8, 0.1, 0.2, 0.3, 0.4])
    out = sim.simulate(labels, assignments, distances)
    assert out["curve"] == {"actions": [0, 1, 2, 4], "correct": [0, 4, 8, 10]}
    assert (out["correct_after_naming"], out["clusters"]) == (8, 2)
    assert (out["actions_80"], out["actions_90"], out["actions_95"]) == (2, 3, 4)  # 8, 9, 10 of 10 correct
    assert (out["inspected_80"], out["inspected_90"], out["inspected_95"]) == (0, 1, 2)  # strays are shown last


def test_a_perfect_clustering_costs_one_action_per_cluster_and_the_page_order_finds_strays_first():
    sim = load_simulator()
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 250)
    assignments = labels.copy()
    assert sim.simulate(labels, assignments, rng.random(1000))["actions_95"] == 4
    stray = rng.choice(1000, 100, replace=False)
    assignments[stray] = (labels[stray] + 1) % 4
    distances = rng.random(1000) + np.isin(np.arange(1000), stray)  # strays far from their centroid
    out = sim.simulate(labels, assignments, distances)
    assert out["actions_95"] == 4 + 50  # 900 right after naming, 50 fixes to reach 950
    assert out["inspected_95"] < out["inspected_random_95"] and out["wrong_in_farthest_20pct"] > 0.9
    assert sim.one_by_one(1000)["actions_95"] == 950

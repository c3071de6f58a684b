"""Every shipped recipe parses and validates (a typo in a config must fail here, not on a cluster)."""

from pathlib import Path

import pytest

from conftest import REPO
from deepcluster.config import load_config


@pytest.mark.parametrize("recipe", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_recipe_is_valid(recipe: Path):
    cfg = load_config(recipe)
    assert cfg.run_dir and cfg.train.epochs >= 1

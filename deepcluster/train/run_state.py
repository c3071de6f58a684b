"""Optimizer layout, top-layer re-initialisation, RNG capture and resume checks.

The optimizer has two parameter groups: the backbone and MLP with momentum, and the top layer with
none. Cluster ids are a fresh permutation every epoch, so the top layer is re-initialised and any
optimizer state it had is dropped: no stale momentum reaches the new classifier (mmselfsup does the
same by giving the head momentum 0).
"""

from __future__ import annotations

from typing import Any

import torch

from ..config import Config, ConfigError, drop_removed_keys
from ..models import DeepClusterNet

# Keys that may change when a run is resumed; anything else would silently change the experiment.
RESUMABLE_CHANGES = ("run_dir", "train.epochs", "train.workers", "checkpoint.keep", "log.")


def build_optimizer(net: DeepClusterNet, cfg) -> torch.optim.SGD:
    top = list(net.top_layer.parameters())
    top_ids = {id(p) for p in top}
    body = [p for p in net.parameters() if id(p) not in top_ids and p.requires_grad]
    return torch.optim.SGD(
        [{"params": body, "momentum": cfg.momentum}, {"params": top, "momentum": 0.0}],
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
    )


def reset_top_layer(net: DeepClusterNet, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
    net.reset_top_layer(generator)
    for p in net.top_layer.parameters():
        optimizer.state.pop(p, None)


def reclusters(epoch: int, reassign_every: int, have_assignments: bool) -> bool:
    """Whether ``epoch`` starts with a new clustering: every ``reassign_every`` epochs, and always when no
    assignments exist yet (a fresh run, or a resume from a checkpoint written before any clustering)."""
    return not have_assignments or epoch % reassign_every == 0


def capture_rng() -> dict[str, Any]:
    """RNG states as tensors (weights_only-loadable); every epoch also re-seeds from (seed, epoch)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _resumable(key: str) -> bool:
    """True for keys listed in RESUMABLE_CHANGES, where an entry ending in '.' covers a whole section."""
    return any(key == a or (a.endswith(".") and key.startswith(a)) for a in RESUMABLE_CHANGES)


def check_resume_compatible(saved: dict[str, Any], cfg: Config) -> None:
    """Refuse to resume a run with settings that would change the experiment halfway through.

    Keys added to the schema after the run was saved count as their defaults, so old runs still resume.
    """
    old = {**_flatten(Config().to_dict()), **_flatten(drop_removed_keys(saved))}
    new = _flatten(cfg.to_dict())
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k) and not _resumable(k)]
    if changed:
        details = ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in changed)
        raise ConfigError(
            f"run_dir={cfg.run_dir} holds a run with other settings ({details}); resume with the same "
            f"settings (only {', '.join(RESUMABLE_CHANGES)} may change) or use a new run_dir"
        )

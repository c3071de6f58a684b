"""The five things an annotator does, each one action in the log (the unit of human effort we count).

    {"kind": "name",   "cluster": 7, "label": "sneaker"}          name (or rename) a cluster; "" clears the name
    {"kind": "label",  "items": [12, 40], "label": "sandal"}       a manual label for these images ("" clears it)
    {"kind": "move",   "items": [12, 40], "to": 3}                 move images to cluster 3 ("new": a new cluster)
    {"kind": "unsure", "items": [12], "unsure": true}              mark (or unmark) images as unsure
    {"kind": "merge",  "cluster": 7, "into": 3}                    every member of 7 joins 3; 7 disappears

One action is one request, whatever it covers: naming a cluster of 700 images is 1 action, and moving 5
selected images at once is 1 action too (as a person makes them: one decision, one keystroke or click).

Actions name what they apply to (image indices, cluster ids), never a position on someone's screen, so two
tabs can act at once: each action is checked against the state it meets. One aimed at a cluster that another
tab has merged away is refused with ``status`` 409 and the page reloads; nothing is written then.

Moving an image makes its cluster's name its label (a manual label and the unsure mark are cleared): the
annotator has said where it belongs. A cluster merged into an unnamed one lends it its name.
"""

from __future__ import annotations

import json
import sqlite3

KINDS = ("name", "label", "move", "unsure", "merge")
MAX_LABEL = 200  # characters
MAX_ITEMS = 1_000_000  # images one action may cover


class ActionError(ValueError):
    """An action that does not apply; ``status`` 400 = malformed, 404 = unknown target, 409 = stale."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ActionError(f"{what} must be an integer, got {value!r}")
    return value


def _label(value) -> str:
    if not isinstance(value, str):
        raise ActionError(f"a label must be text, got {value!r}")
    text = " ".join(value.split())  # no newlines or tabs; runs of spaces as one
    if len(text) > MAX_LABEL:
        raise ActionError(f"a label is at most {MAX_LABEL} characters, got {len(text)}")
    return text


def _items(value) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ActionError("'items' must be a non-empty list of image indices (select images first)")
    if len(value) > MAX_ITEMS:
        raise ActionError(f"one action covers at most {MAX_ITEMS:,} images")
    return sorted({_int(v, "an image index") for v in value})


def normalise_action(action) -> dict:
    """The action with its fields checked and put in canonical form (this is what the log stores)."""
    if not isinstance(action, dict):
        raise ActionError("an action is a JSON object with a 'kind'")
    kind = action.get("kind")
    if kind not in KINDS:
        raise ActionError(f"unknown action kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "name":
        return {"kind": kind, "cluster": _int(action.get("cluster"), "'cluster'"), "label": _label(action.get("label"))}
    if kind == "label":
        return {"kind": kind, "items": _items(action.get("items")), "label": _label(action.get("label"))}
    if kind == "move":
        to = action.get("to")
        return {"kind": kind, "items": _items(action.get("items")), "to": "new" if to == "new" else _int(to, "'to'")}
    if kind == "unsure":
        flag = action.get("unsure", True)
        if not isinstance(flag, bool):
            raise ActionError("'unsure' must be true or false")
        return {"kind": kind, "items": _items(action.get("items")), "unsure": flag}
    source, into = _int(action.get("cluster"), "'cluster'"), _int(action.get("into"), "'into'")
    if source == into:
        raise ActionError("a cluster cannot be merged into itself")
    return {"kind": kind, "cluster": source, "into": into}


def _live_cluster(db: sqlite3.Connection, cluster: int) -> None:
    row = db.execute("SELECT merged_into FROM clusters WHERE id = ?", (cluster,)).fetchone()
    if row is None:
        raise ActionError(f"there is no cluster {cluster}", 404)
    if row[0] is not None:
        raise ActionError(f"cluster {cluster} was merged into cluster {row[0]} (in another tab?); reload", 409)


def _check_items(db: sqlite3.Connection, items: list[int]) -> str:
    """The items as one JSON parameter (``json_each``), after checking every one exists."""
    as_json = json.dumps(items)
    found = db.execute("SELECT COUNT(*) FROM items WHERE idx IN (SELECT value FROM json_each(?))",
                       (as_json,)).fetchone()[0]
    if found != len(items):
        raise ActionError(f"{len(items) - found} of the {len(items)} image indices are not in this annotation", 404)
    return as_json


def apply_action(db: sqlite3.Connection, action: dict) -> int:
    """Apply a normalised action inside the caller's transaction; returns how many images it touched.

    For ``move`` to "new", the created cluster's id is written back into ``action["created"]``."""
    kind = action["kind"]
    label = action.get("label") or None  # "" clears
    if kind == "name":
        _live_cluster(db, action["cluster"])
        db.execute("UPDATE clusters SET name = ? WHERE id = ?", (label, action["cluster"]))
        return db.execute("SELECT COUNT(*) FROM items WHERE cluster = ?", (action["cluster"],)).fetchone()[0]
    if kind == "merge":
        source, into = action["cluster"], action["into"]
        _live_cluster(db, source)
        _live_cluster(db, into)
        db.execute("UPDATE clusters SET name = COALESCE(name, (SELECT name FROM clusters WHERE id = ?)) WHERE id = ?",
                   (source, into))
        db.execute("UPDATE clusters SET merged_into = ? WHERE id = ? OR merged_into = ?", (into, source, source))
        return db.execute("UPDATE items SET cluster = ? WHERE cluster = ?", (into, source)).rowcount
    items = _check_items(db, action["items"])
    where = "WHERE idx IN (SELECT value FROM json_each(?))"
    if kind == "label":
        return db.execute(f"UPDATE items SET manual = ?, unsure = 0 {where}", (label, items)).rowcount
    if kind == "unsure":
        return db.execute(f"UPDATE items SET unsure = ? {where}", (int(action["unsure"]), items)).rowcount
    to = action["to"]
    if to == "new":
        to = db.execute("SELECT COALESCE(MAX(id), -1) + 1 FROM clusters").fetchone()[0]
        db.execute("INSERT INTO clusters (id, initial_size) VALUES (?, 0)", (to,))
        action["created"] = to
    else:
        _live_cluster(db, to)
    return db.execute(f"UPDATE items SET cluster = ?, manual = NULL, unsure = 0, moved = 1 {where}",
                      (to, items)).rowcount

"""The annotation state of one output folder: ``annotations.sqlite``, one transaction per action.

Tables: ``items`` (one row per image: dataset index, key, distance to its initial centroid, current cluster,
manual label, unsure flag), ``clusters`` (name, and which cluster it was merged into), ``actions`` (the log:
every action as it was applied, in order; its length is the number of human actions) and ``meta`` (what the
folder annotates, so a restart rebuilds the same dataset without re-clustering).

SQLite runs in WAL mode with ``synchronous=FULL``: an action returns only after its transaction, log row and
state change together, is on disk, so a server killed at any instant restarts with every action it
acknowledged and no half action. The server is the only writer (an exclusive lock file refuses a second
server on the same folder), and every action names what it applies to (image indices, cluster ids), never
"the current selection", so two browser tabs acting at once are applied one after the other, both kept.

An image's label is its manual label if it has one, else its cluster's name; an image marked unsure has no
label until it is moved or labelled.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from .actions import ActionError, apply_action, normalise_action

STORE_FILE = "annotations.sqlite"
LOCK_FILE = "annotate.lock"

SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE clusters (id INTEGER PRIMARY KEY, name TEXT, merged_into INTEGER, initial_size INTEGER NOT NULL)",
    "CREATE TABLE items (idx INTEGER PRIMARY KEY, key TEXT NOT NULL, initial_cluster INTEGER NOT NULL, "
    "distance REAL NOT NULL, cluster INTEGER NOT NULL, manual TEXT, unsure INTEGER NOT NULL DEFAULT 0, "
    "moved INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX items_by_cluster ON items (cluster, moved, distance)",
    "CREATE TABLE actions (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, client TEXT NOT NULL, "
    "kind TEXT NOT NULL, payload TEXT NOT NULL)",
)

# the label an image carries, and where it comes from, as SQL over items i joined with its cluster c
LABEL_SQL = "CASE WHEN i.unsure THEN NULL ELSE COALESCE(i.manual, c.name) END"
SOURCE_SQL = ("CASE WHEN i.unsure THEN 'unsure' WHEN i.manual IS NOT NULL THEN 'manual' "
              "WHEN c.name IS NOT NULL THEN 'cluster' ELSE '' END")


class StoreBusy(RuntimeError):
    """Another annotate server already writes this folder."""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def store_exists(folder: str | Path) -> bool:
    """True when ``folder`` holds a complete store (its creating transaction committed)."""
    path = Path(folder) / STORE_FILE
    if not path.is_file():
        return False
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is not None
    finally:
        db.close()


class AnnotationStore:
    """Reads and writes one folder's annotations; safe to share between the server's threads."""

    def __init__(self, folder: str | Path, writer: bool = True):
        self.folder = Path(folder)
        self._lock = threading.RLock()
        self._lock_file = None
        if writer:
            self._lock_file = open(self.folder / LOCK_FILE, "a")
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_file.close()
                raise StoreBusy(f"another annotate server is using {self.folder}; stop it first (or open its page)")
        if not store_exists(self.folder):
            self.close()
            raise FileNotFoundError(f"{self.folder} holds no annotations ({STORE_FILE}); start annotate with "
                                    "--checkpoint or --features to create them")
        self.db = _connect(self.folder / STORE_FILE)

    # ---- creation ---------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | Path, spec: dict, indices: np.ndarray, keys: list[str], clusters: np.ndarray,
               distances: np.ndarray, info: dict | None = None) -> "AnnotationStore":
        """A new store of the clustering (dataset index, key, cluster, distance to centroid per image),
        written in one transaction: a crash while creating leaves no store at all."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / STORE_FILE
        if store_exists(folder):
            raise FileExistsError(f"{path} exists; open it instead of creating it")
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)  # an uncommitted earlier attempt
        clusters = np.asarray(clusters, dtype=np.int64)
        sizes = np.bincount(clusters, minlength=int(clusters.max()) + 1 if len(clusters) else 0)
        db = _connect(path)
        try:
            db.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                db.execute(statement)
            db.executemany("INSERT INTO clusters (id, initial_size) VALUES (?, ?)",
                           [(c, int(n)) for c, n in enumerate(sizes)])
            db.executemany("INSERT INTO items (idx, key, initial_cluster, distance, cluster) VALUES (?, ?, ?, ?, ?)",
                           zip(map(int, indices), map(str, keys), map(int, clusters), map(float, distances),
                               map(int, clusters)))
            meta = {"spec": spec, "info": info or {}, "created": time.time()}
            db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            db.execute("COMMIT")
        finally:
            db.close()
        return cls(folder)

    def close(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.close()
            self.db = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # ---- meta ---------------------------------------------------------------------------------------------------
    def meta(self, name: str, default=None):
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, name: str, value) -> None:
        """Facts about the folder (e.g. the suggested k); not an action, not counted."""
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, json.dumps(value)))

    # ---- actions ------------------------------------------------------------------------------------------------
    def apply(self, action: dict, client: str = "") -> dict:
        """Validate and apply one action (name, label, move, unsure, merge) in one transaction, logged.

        Raises ``ActionError`` (nothing written) when it does not apply to the current state."""
        with self._lock:
            action = normalise_action(action)
            self.db.execute("BEGIN IMMEDIATE")
            try:
                changed = apply_action(self.db, action)
                cur = self.db.execute("INSERT INTO actions (at, client, kind, payload) VALUES (?, ?, ?, ?)",
                                      (time.time(), str(client)[:64], action["kind"], json.dumps(action)))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return {"version": cur.lastrowid, "kind": action["kind"], "changed": changed, "action": action}

    def version(self) -> int:
        """The id of the last action (0 before any): it changes exactly when the state does."""
        with self._lock:
            return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM actions").fetchone()[0])

    def actions(self) -> list[dict]:
        with self._lock:
            rows = self.db.execute("SELECT id, at, client, kind, payload FROM actions ORDER BY id").fetchall()
        return [{"id": r["id"], "at": r["at"], "client": r["client"], **json.loads(r["payload"])} for r in rows]

    # ---- reads --------------------------------------------------------------------------------------------------
    def has_item(self, idx: int) -> bool:
        with self._lock:
            return self.db.execute("SELECT 1 FROM items WHERE idx = ?", (int(idx),)).fetchone() is not None

    def item_key(self, idx: int) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT key FROM items WHERE idx = ?", (int(idx),)).fetchone()
        return row[0] if row else None

    def items_table(self) -> tuple[np.ndarray, list[str]]:
        """Dataset indices and keys of every image, in index order."""
        with self._lock:
            rows = self.db.execute("SELECT idx, key FROM items ORDER BY idx").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]

    def clusters(self) -> list[dict]:
        """Clusters in use, largest first: id, name, size, labelled, unsure, manual labels inside."""
        sql = (f"SELECT c.id, c.name, COUNT(i.idx) AS size, SUM({LABEL_SQL} IS NOT NULL) AS labelled, "
               "SUM(i.unsure) AS unsure, json_group_array(DISTINCT i.manual) AS manual "
               "FROM clusters c JOIN items i ON i.cluster = c.id WHERE c.merged_into IS NULL "
               "GROUP BY c.id ORDER BY size DESC, c.id")
        with self._lock:
            rows = self.db.execute(sql).fetchall()
        return [{"id": r["id"], "name": r["name"], "size": r["size"], "labelled": r["labelled"],
                 "unsure": r["unsure"], "manual_labels": sorted(x for x in json.loads(r["manual"]) if x is not None)}
                for r in rows]

    def cluster_name(self, cluster: int) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT name FROM clusters WHERE id = ?", (int(cluster),)).fetchone()
        return row[0] if row else None

    def members(self, cluster: int, offset: int = 0, limit: int | None = None) -> tuple[int, list[dict]]:
        """(size, members) of a cluster in the page's order: nearest its centroid first, likely mistakes last,
        and images moved here by hand after all of them (they are already checked)."""
        sql = (f"SELECT i.idx, i.key, i.distance, i.manual, i.unsure, i.moved, {LABEL_SQL} AS label, "
               f"{SOURCE_SQL} AS source FROM items i JOIN clusters c ON c.id = i.cluster WHERE i.cluster = ? "
               "ORDER BY i.moved, i.distance, i.idx LIMIT ? OFFSET ?")
        with self._lock:
            total = self.db.execute("SELECT COUNT(*) FROM items WHERE cluster = ?", (int(cluster),)).fetchone()[0]
            rows = self.db.execute(sql, (int(cluster), -1 if limit is None else int(limit), int(offset))).fetchall()
        return int(total), [dict(r) for r in rows]

    def overview(self, per_cluster: int) -> dict[int, list[int]]:
        """The first ``per_cluster`` images (in page order) of every cluster in use."""
        sql = ("SELECT cluster, idx FROM (SELECT cluster, idx, ROW_NUMBER() OVER (PARTITION BY cluster "
               "ORDER BY moved, distance, idx) AS rank FROM items) WHERE rank <= ? ORDER BY cluster, rank")
        found: dict[int, list[int]] = {}
        with self._lock:
            for cluster, idx in self.db.execute(sql, (int(per_cluster),)):
                found.setdefault(cluster, []).append(idx)
        return found

    def progress(self) -> dict:
        """Images labelled (of all), unsure, clusters named and left, actions so far."""
        with self._lock:
            row = self.db.execute(f"SELECT COUNT(*) AS images, SUM({LABEL_SQL} IS NOT NULL) AS labelled, "
                                  "SUM(i.unsure) AS unsure, SUM(i.manual IS NOT NULL AND NOT i.unsure) AS manual "
                                  "FROM items i JOIN clusters c ON c.id = i.cluster").fetchone()
            live = self.db.execute("SELECT COUNT(*) AS n, SUM(c.name IS NOT NULL) AS named FROM clusters c "
                                   "WHERE c.merged_into IS NULL AND EXISTS "
                                   "(SELECT 1 FROM items i WHERE i.cluster = c.id)").fetchone()
            actions = self.db.execute("SELECT COUNT(*) FROM actions").fetchone()[0]
        named = int(live["named"] or 0)
        return {"images": int(row["images"]), "labelled": int(row["labelled"] or 0),
                "unsure": int(row["unsure"] or 0), "manual": int(row["manual"] or 0), "clusters": int(live["n"]),
                "clusters_named": named, "clusters_left": int(live["n"]) - named, "actions": int(actions)}

    def labels(self) -> list[dict]:
        """Every image's key, dataset index, label ('' when none), source (cluster / manual / unsure / '') and
        current cluster, in dataset order: what the exports write."""
        sql = (f"SELECT i.key, i.idx AS \"index\", COALESCE({LABEL_SQL}, '') AS label, {SOURCE_SQL} AS source, "
               "i.cluster FROM items i JOIN clusters c ON c.id = i.cluster ORDER BY i.idx")
        with self._lock:
            return [dict(r) for r in self.db.execute(sql)]

    def known_labels(self) -> list[str]:
        """Every cluster name and manual label in use (for the page's suggestions)."""
        with self._lock:
            rows = self.db.execute("SELECT name FROM clusters WHERE name IS NOT NULL AND merged_into IS NULL "
                                   "UNION SELECT manual FROM items WHERE manual IS NOT NULL").fetchall()
        return sorted({r[0] for r in rows})


__all__ = ["AnnotationStore", "ActionError", "StoreBusy", "STORE_FILE", "store_exists"]

"""The annotation store without a browser: what each action does, that it survives a restart or a kill,
and that two writers at once neither corrupt nor lose anything."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import REPO
from deepcluster.annotation import ActionError, AnnotationStore, StoreBusy, store_exists

CLUSTERS = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
DISTANCES = np.array([0.1, 0.4, 0.2, 0.9, 0.3, 0.1, 0.2, 0.5, 0.6, 0.1])


def make_store(folder, writer_class=AnnotationStore) -> AnnotationStore:
    keys = [f"img_{i}.png" for i in range(len(CLUSTERS))]
    return writer_class.create(folder, {"test": True}, np.arange(len(CLUSTERS)), keys, CLUSTERS, DISTANCES,
                               {"origin": "test"})


def labels_of(store) -> dict[int, tuple[str, str]]:
    return {r["index"]: (r["label"], r["source"]) for r in store.labels()}


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "ann")
    yield s
    s.close()


def test_name_labels_every_member_without_a_manual_label_and_unsure_has_none(store):
    store.apply({"kind": "label", "items": [0], "label": "fox"})
    store.apply({"kind": "unsure", "items": [2]})
    store.apply({"kind": "name", "cluster": 0, "label": "  cat  "})
    got = labels_of(store)
    assert got[0] == ("fox", "manual") and got[1] == ("cat", "cluster") and got[3] == ("cat", "cluster")
    assert got[2] == ("", "unsure") and got[4] == ("", "")
    p = store.progress()
    assert (p["images"], p["labelled"], p["unsure"], p["manual"]) == (10, 3, 1, 1)
    assert (p["clusters"], p["clusters_named"], p["clusters_left"], p["actions"]) == (3, 1, 2, 3)
    assert [c["id"] for c in store.clusters()] == [0, 1, 2]  # largest first, ties by id
    assert store.clusters()[0]["manual_labels"] == ["fox"] and store.known_labels() == ["cat", "fox"]


def test_members_come_nearest_first_and_moved_images_last(store):
    assert [m["idx"] for m in store.members(0)[1]] == [0, 2, 1, 3]
    store.apply({"kind": "name", "cluster": 0, "label": "cat"})
    result = store.apply({"kind": "move", "items": [5, 9], "to": 0})  # a multi-select move: one action
    assert result["changed"] == 2 and store.progress()["actions"] == 2
    total, members = store.members(0)
    assert total == 6 and [m["idx"] for m in members] == [0, 2, 1, 3, 5, 9]  # moved ones last, by distance
    assert labels_of(store)[5] == ("cat", "cluster") and members[-1]["moved"] == 1
    store.apply({"kind": "label", "items": [4], "label": "dog"})
    store.apply({"kind": "move", "items": [4], "to": 0})  # moving clears a manual label: it is where it belongs
    assert labels_of(store)[4] == ("cat", "cluster")


def test_move_to_a_new_cluster_and_merge(store):
    result = store.apply({"kind": "move", "items": [7, 8], "to": "new"})
    assert result["action"]["created"] == 3 and store.members(3)[0] == 2
    store.apply({"kind": "name", "cluster": 1, "label": "bird"})
    store.apply({"kind": "merge", "cluster": 1, "into": 3})  # the unnamed target takes the name
    clusters = {c["id"]: c for c in store.clusters()}
    assert set(clusters) == {0, 2, 3} and clusters[3]["name"] == "bird" and clusters[3]["size"] == 5
    with pytest.raises(ActionError) as err:
        store.apply({"kind": "name", "cluster": 1, "label": "x"})  # another tab still shows cluster 1
    assert err.value.status == 409 and "merged into cluster 3" in str(err.value)
    store.apply({"kind": "merge", "cluster": 3, "into": 0})
    with pytest.raises(ActionError) as err:
        store.apply({"kind": "move", "items": [0], "to": 1})  # merged twice over: still refused
    assert err.value.status == 409
    p = store.progress()
    assert p["clusters"] == 2 and p["actions"] == 4


@pytest.mark.parametrize("action,status", [
    ({"kind": "rename"}, 400), ({"kind": "name", "cluster": 99, "label": "x"}, 404),
    ({"kind": "name", "cluster": "0", "label": "x"}, 400), ({"kind": "move", "items": [], "to": 0}, 400),
    ({"kind": "move", "items": [0, 1000], "to": 1}, 404), ({"kind": "merge", "cluster": 1, "into": 1}, 400),
    ({"kind": "label", "items": [0], "label": "x" * 201}, 400), ({"kind": "unsure", "items": [True]}, 400),
    ([1, 2], 400),
])
def test_refused_actions_write_nothing(store, action, status):
    before = (store.labels(), store.version())
    with pytest.raises(ActionError) as err:
        store.apply(action)
    assert err.value.status == status
    assert (store.labels(), store.version()) == before


SCRIPT = [{"kind": "name", "cluster": 0, "label": "cat"}, {"kind": "unsure", "items": [1, 3]},
          {"kind": "move", "items": [4], "to": "new"}, {"kind": "merge", "cluster": 2, "into": 1},
          {"kind": "label", "items": [9], "label": "dog"}, {"kind": "name", "cluster": 1, "label": "bird"},
          {"kind": "unsure", "items": [3], "unsure": False}]


def test_state_survives_a_reopen_and_equals_a_replay_of_the_log(tmp_path):
    store = make_store(tmp_path / "a")
    for action in SCRIPT:
        store.apply(action, client="tab-1")
    expected, version = labels_of(store), store.version()
    store.close()
    store = AnnotationStore(tmp_path / "a")
    assert labels_of(store) == expected and store.version() == version == len(SCRIPT)
    log = store.actions()
    assert [a["kind"] for a in log] == [a["kind"] for a in SCRIPT] and log[0]["client"] == "tab-1"
    fresh = make_store(tmp_path / "b")
    for action in log:
        fresh.apply(action)
    assert labels_of(fresh) == expected
    store.close(), fresh.close()


def test_one_writer_per_folder_but_readers_alongside(store):
    with pytest.raises(StoreBusy):
        AnnotationStore(store.folder)
    reader = AnnotationStore(store.folder, writer=False)
    store.apply({"kind": "name", "cluster": 0, "label": "cat"})
    assert reader.progress()["clusters_named"] == 1
    reader.close()


def test_an_unfinished_create_is_no_store(tmp_path):
    (tmp_path / "ann").mkdir()
    sqlite3.connect(tmp_path / "ann" / "annotations.sqlite").close()  # an empty file, as a crash could leave
    assert not store_exists(tmp_path / "ann")
    make_store(tmp_path / "ann").close()
    assert store_exists(tmp_path / "ann")


def test_two_threads_writing_at_once_lose_nothing(store):
    def work(client, actions):
        for action in actions:
            store.apply(action, client=client)

    a = [{"kind": "unsure", "items": [i % 10], "unsure": bool(i % 2)} for i in range(40)]
    b = [{"kind": "name", "cluster": i % 3, "label": f"n{i}"} for i in range(40)]
    threads = [threading.Thread(target=work, args=args) for args in (("a", a), ("b", b))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    log = store.actions()
    assert len(log) == 80 and [x["client"] for x in log].count("a") == 40
    assert [x["id"] for x in log] == list(range(1, 81))


KILL_LOOP = """
import sys, time
from deepcluster.annotation import AnnotationStore
store = AnnotationStore(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    store.apply({"kind": "move", "items": [i % 10, (i + 3) % 10], "to": i % 3})
    store.apply({"kind": "name", "cluster": i % 3, "label": f"name {i}"})
    i += 1
"""


def test_a_kill_at_any_instant_leaves_whole_actions_only(tmp_path):
    make_store(tmp_path / "ann").close()
    proc = subprocess.Popen([sys.executable, "-c", KILL_LOOP, str(tmp_path / "ann")], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = AnnotationStore(tmp_path / "ann")
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    log = store.actions()
    assert len(log) > 5
    replayed = make_store(tmp_path / "replay")
    for action in log:
        replayed.apply(action)
    assert labels_of(replayed) == labels_of(store)  # the state is exactly the logged actions, none half-applied
    store.close(), replayed.close()

"""The annotate server without a browser: what it serves, what it refuses (path traversal, other hosts,
missing tokens, cross-site posts), and two clients writing at once over real HTTP."""

from __future__ import annotations

import http.client
import io
import json
import threading

import pytest
from PIL import Image

from deepcluster.annotation import make_spec, open_session
from deepcluster.annotation.server import COOKIE, create_app
from deepcluster.annotation.thumbnails import Thumbnails
from .tiny_dataset import write_features_dataset

TRAVERSALS = ["/static/../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd", "/static/%2e%2e/%2e%2e/etc/passwd",
              "/static/..%252f..%252fetc%252fpasswd", "/static/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
              "/img/../../etc/passwd", "/img/..%2f..%2fetc%2fpasswd", "/img/%2e%2e/features.npz", "/img/-1",
              "/img/36", "/img/0x1", "/img/1.png/../../../etc/passwd", "/etc/passwd", "//etc/passwd",
              "/export/../features.npz", "/static/annotate.js/../../../features.npz"]


@pytest.fixture
def session(tmp_path):
    folder, features = write_features_dataset(tmp_path)
    s = open_session(tmp_path / "ann", make_spec(features=str(features), data="imagefolder", data_root=str(folder),
                                                 k=3))
    yield s
    s.store.close()


@pytest.fixture
def client(session):
    return create_app(session.store, Thumbnails(session.source)).test_client()


def post(client, action, **kw):
    return client.post("/api/action", json=action, **kw)


def test_page_state_and_thumbnails(client):
    page = client.get("/")
    assert page.status_code == 200 and b"annotate.js" in page.data and b"36 images" in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    state = client.get("/api/state").get_json()
    assert [c["size"] for c in state["clusters"]] == [12, 12, 12] and state["progress"]["actions"] == 0
    image = client.get("/img/0")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == (80, 80)  # 40 px shown at a whole factor, >= 64 px
    members = client.get("/api/clusters/0/members?limit=5").get_json()
    assert members["total"] == 12 and len(members["members"]) == 5
    distances = [m["distance"] for m in client.get("/api/clusters/0/members").get_json()["members"]]
    assert distances == sorted(distances)


def test_actions_through_the_api(client):
    assert post(client, {"kind": "name", "cluster": 0, "label": "square"}).status_code == 200
    last = client.get("/api/clusters/0/members").get_json()["members"][-1]["idx"]
    reply = post(client, {"kind": "move", "items": [last], "to": 2, "client": "t1"}).get_json()
    assert reply["progress"]["actions"] == 2 and reply["result"]["changed"] == 1
    assert post(client, {"kind": "merge", "cluster": 1, "into": 1}).status_code == 400
    assert post(client, {"kind": "name", "cluster": 7, "label": "x"}).status_code == 404
    assert client.get("/api/version").get_json()["version"] == 2


@pytest.mark.parametrize("path", TRAVERSALS)
def test_only_the_datasets_images_are_served(client, path):
    assert client.get(path).status_code in (403, 404)


def test_refuses_other_hosts_forms_and_cross_site_posts(client):
    assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 403  # DNS rebinding
    assert client.get("/api/state", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.post("/api/action", data={"kind": "name"}).status_code == 415
    action = {"kind": "name", "cluster": 0, "label": "x"}
    assert post(client, action, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.get("/api/version").get_json()["version"] == 0


def test_a_token_guards_every_request_when_bound_beyond_loopback(session):
    app = create_app(session.store, Thumbnails(session.source), token="s3cret", loopback=False)
    c = app.test_client()
    for path in ("/", "/api/state", "/img/0", "/static/annotate.js", "/export/labels.csv"):
        assert c.get(path, headers={"Host": "10.0.0.5:8765"}).status_code == 403, path
    assert c.get("/api/state?token=wrong").status_code == 403
    assert c.get("/api/state", headers={"X-Annotate-Token": "s3cret"}).status_code == 200
    first = c.get("/?token=s3cret")
    assert first.status_code == 303 and first.headers["Location"] == "/"  # the token leaves the address bar
    assert COOKIE in first.headers["Set-Cookie"] and "HttpOnly" in first.headers["Set-Cookie"]
    assert c.get("/img/0").status_code == 200  # the cookie now
    with pytest.raises(ValueError):
        create_app(session.store, Thumbnails(session.source), token=None, loopback=False)


def test_downloads_and_export_button(client, session):
    post(client, {"kind": "name", "cluster": 0, "label": "square"})
    rows = client.get("/export/labels.csv").data.decode().splitlines()
    assert rows[0] == "key,label,source,cluster,index" and len(rows) == 37
    assert sum(",square,cluster," in r for r in rows) == 12
    document = client.get("/export/labels.json").get_json()
    assert document["progress"]["labelled"] == 12 and len(document["labels"]) == 36
    out = client.post("/api/export", json={}).get_json()
    assert out["imagefolder"]["images"] == 12 and (session.store.folder / "export" / "labels.csv").is_file()


@pytest.fixture
def live_server(session):
    """The app on a real socket (werkzeug, threaded), as the command runs it."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(session.store, Thumbnails(session.source)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()


def raw_get(port: int, path: str) -> int:
    """GET with the path sent exactly as written (no client-side normalisation of ../ or %2e)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{port}")
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_traversal_over_real_http(live_server):
    assert raw_get(live_server, "/img/0") == 200
    for path in TRAVERSALS:
        assert raw_get(live_server, path) in (403, 404), path


def test_two_clients_at_once_over_http(live_server, session):
    def send(action):
        conn = http.client.HTTPConnection("127.0.0.1", live_server, timeout=30)
        conn.request("POST", "/api/action", json.dumps(action), {"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        return status

    statuses = {"a": [], "b": []}

    def tab(name, actions):
        statuses[name] = [send({**a, "client": name}) for a in actions]

    a = [{"kind": "unsure", "items": [i], "unsure": True} for i in range(30)]
    b = [{"kind": "name", "cluster": i % 3, "label": f"label {i}"} for i in range(30)]
    threads = [threading.Thread(target=tab, args=args) for args in (("a", a), ("b", b))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert statuses["a"] == [200] * 30 and statuses["b"] == [200] * 30
    log = session.store.actions()
    assert len(log) == 60 and sorted(x["client"] for x in log) == ["a"] * 30 + ["b"] * 30
    assert session.store.progress()["unsure"] == 30 and session.store.cluster_name(0) == "label 27"
    # a stale tab: cluster 1 merged away in one tab, then named in the other
    assert send({"kind": "merge", "cluster": 1, "into": 0}) == 200
    assert send({"kind": "name", "cluster": 1, "label": "late"}) == 409
    assert session.store.version() == 61

"""The annotate page: a Flask app over one ``AnnotationStore`` and the image source behind it.

Routes: ``/`` (the page), ``/img/<index>`` (one thumbnail, by dataset index), ``/api/...`` (state as JSON,
actions as POSTed JSON), ``/export/labels.csv|json`` (downloads) and Flask's ``/static/`` (the page's JS and
CSS). Images are looked up by integer index in the store, never by a path taken from the request.

Safe by default: on a loopback address only requests whose Host is a loopback name are served (a web page
elsewhere cannot reach the server through DNS rebinding), actions must be JSON (a cross-site form cannot post
one) from the page's own origin. Bound anywhere else, every request must carry the token printed at start-up
(``?token=`` once, then a same-site cookie, or an ``X-Annotate-Token`` header); without it the answer is 403.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, abort, jsonify, redirect, render_template, request

from .actions import ActionError
from .export import export_all, labels_document, write_labels_csv
from .store import AnnotationStore
from .thumbnails import Thumbnails

COOKIE = "annotate_token"
TOKEN_HEADER = "X-Annotate-Token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
PAGE_SIZE = 300  # members sent per request of a cluster's grid
CSP = "default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request_host() -> str:
    return urlsplit(f"//{request.host}").hostname or ""


def create_app(store: AnnotationStore, thumbnails: Thumbnails, *, token: str | None = None, loopback: bool = True,
               export_dir: str | Path | None = None) -> Flask:
    """The app; ``token`` None means no token is asked for (only allowed with ``loopback``)."""
    if token is None and not loopback:
        raise ValueError("a server reachable from other machines needs a token")
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.json.sort_keys = False
    export_dir = Path(export_dir) if export_dir else store.folder / "export"
    info = store.meta("info", {})

    @app.before_request
    def guard():
        if loopback and not is_loopback(_request_host()):
            abort(403, "this server answers only to a loopback host name (127.0.0.1, localhost)")
        if token is not None:
            given = request.args.get("token") or request.headers.get(TOKEN_HEADER) or request.cookies.get(COOKIE) or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                abort(403, "missing or wrong token: open the address the server printed, with its ?token=")
        if request.method == "POST":
            if not request.is_json:
                abort(415, "actions are JSON (Content-Type: application/json)")
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                abort(403, "actions are accepted only from the page's own origin")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith(("/api/", "/export/")) or request.path == "/":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(ActionError)
    def refused(err: ActionError):
        return jsonify(error=str(err)), err.status

    @app.get("/")
    def page():
        if token is not None and request.args.get("token"):  # trade the URL's token for a cookie, then drop it
            response = redirect("/", code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return response
        return render_template("annotate.html", info=info, thumb=thumbnails.side)

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)

    @app.get("/img/<int:index>")
    def image(index: int):
        if not store.has_item(index):
            abort(404)
        data = thumbnails.png(index)
        if data is None:
            abort(404, "this image could not be decoded")
        response = Response(data, mimetype="image/png")
        response.headers["Cache-Control"] = "private, max-age=86400, immutable"  # an index's pixels never change
        return response

    def state() -> dict:
        return {"version": store.version(), "progress": store.progress(), "clusters": store.clusters(),
                "labels": store.known_labels(), "suggested_k": store.meta("suggested_k")}

    @app.get("/api/state")
    def full_state():
        return jsonify(**state(), info=info, thumb=thumbnails.side, page_size=PAGE_SIZE)

    @app.get("/api/version")
    def version():
        return jsonify(version=store.version(), suggested_k=store.meta("suggested_k"))

    @app.get("/api/clusters/<int:cluster>/members")
    def members(cluster: int):
        offset = max(0, request.args.get("offset", 0, type=int))
        limit = min(PAGE_SIZE, max(1, request.args.get("limit", PAGE_SIZE, type=int)))
        total, rows = store.members(cluster, offset, limit)
        return jsonify(cluster=cluster, name=store.cluster_name(cluster), total=total, offset=offset, members=rows,
                       version=store.version())

    @app.get("/api/overview")
    def overview():
        per = min(24, max(1, request.args.get("per", 12, type=int)))
        return jsonify({str(c): idx for c, idx in store.overview(per).items()})

    @app.post("/api/action")
    def action():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ActionError("the body must be a JSON object")
        client = body.pop("client", "")
        result = store.apply(body, client=client)
        return jsonify(result=result, **state())

    @app.post("/api/export")
    def export():
        return jsonify(export_all(store, thumbnails.source, export_dir))

    @app.get("/export/labels.csv")
    def download_csv():
        path = write_labels_csv(store, export_dir / "labels.csv")
        return Response(path.read_bytes(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=labels.csv"})

    @app.get("/export/labels.json")
    def download_json():
        response = jsonify(labels_document(store))
        response.headers["Content-Disposition"] = "attachment; filename=labels.json"
        return response

    return app


def serve(app: Flask, host: str, port: int, announce) -> None:
    """Run ``app`` with werkzeug's threaded server until interrupted; ``announce(port)`` once it listens."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per thumbnail
    server = make_server(host, port, app, threaded=True)
    announce(server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()

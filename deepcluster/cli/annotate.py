"""Label clusters in bulk in a local web page: name a cluster once instead of every image, fix the strays.

    python launch/annotate.py --checkpoint runs/fmnist --out runs/fmnist/annotate         # the run's own clusters
    python launch/annotate.py --checkpoint runs/fmnist --k 50 --out ann                  # a fresh k-means, k = 50
    python launch/annotate.py --features feats.npz --data fashion_mnist --k 10 --out ann # a features file
    python launch/annotate.py --out ann                                                  # resume where it was
    python launch/annotate.py --out ann --export-csv labels.csv --export-folder labelled # export, no server

Open the address it prints. Clusters are listed largest first; a cluster's images come nearest the centroid
first, so likely mistakes are at the end. Name a cluster (every member without a manual label gets the name),
select images and move them to another cluster (or a new one), label them one by one or mark them unsure,
merge two clusters; "?" on the page lists the keyboard shortcuts. Each of these is one action, however many
images it covers, and is saved in OUT/annotations.sqlite before the page hears back: kill the server at any
time, start it again with the same --out, and the page is where it was. A first start extracts and clusters
(the slow part); a restart only reopens.

Exports (the page's Export button writes all three into OUT/export/): --export-csv (key, label, source, cluster,
index; source = cluster, manual, unsure or empty), --export-json, --export-folder DIR (one subfolder per
label, symlinks to the dataset's files, --copy for copies; PNG files for in-memory datasets), readable as
data.name=imagefolder data.root=DIR and by torchvision's ImageFolder.

Safe by default: it listens on 127.0.0.1 only. --host 0.0.0.0 (or any other address) makes it reachable from
other machines and then asks for a token on every request: one is generated and printed in the address
(or give --token). It serves only the dataset's images, by index, never a file named in a request.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import socket
import sys

from deepcluster.config import SPLITS, ConfigError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="annotation folder: created on the first start, resumed after")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--checkpoint", help="run directory, checkpoint file or export directory")
    what.add_argument("--features", help="features file (.npz) from launch/extract.py; needs --data and --k")
    p.add_argument("--data", default=None, help="fashion_mnist, mnist, cifar10 or imagefolder: the images (default "
                   "for a checkpoint: its training data; a features file: the data it was extracted from)")
    p.add_argument("--data-root", default=None, help="folder of --data (imagefolder, mnist, cifar10)")
    p.add_argument("--split", default=None, choices=SPLITS, help="split of --data (default all, as extract.py)")
    p.add_argument("--limit", type=int, default=None, help="first N samples of --data")
    p.add_argument("--k", type=int, default=None, help="start from a fresh k-means with K clusters (default for a "
                   "checkpoint: its own assignments; required for a features file)")
    p.add_argument("--seed", type=int, default=0, help="k-means seed")
    p.add_argument("--pca-dim", type=int, default=None, help="PCA-whitened dims k-means runs in (default: the run's "
                   "cluster.pca_dim; features files: 64)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                   "any other address requires a token)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free one; the address is printed)")
    p.add_argument("--token", default=None, help="the token to require (default: generated when --host is not "
                   "a loopback address)")
    p.add_argument("--export-csv", metavar="FILE", help="write the labels as CSV and exit (no server)")
    p.add_argument("--export-json", metavar="FILE", help="write the labels as JSON and exit (no server)")
    p.add_argument("--export-folder", metavar="DIR", help="write an image-folder tree of the labelled images and exit")
    p.add_argument("--copy", action="store_true", help="--export-folder: copy the files instead of linking them")
    return p.parse_args(argv)


def _spec(args: argparse.Namespace) -> dict | None:
    from deepcluster.annotation import make_spec

    if not (args.checkpoint or args.features):
        given = [f"--{n.replace('_', '-')}" for n in ("data", "data_root", "split", "limit", "k", "pca_dim")
                 if getattr(args, n) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} describe what to annotate: give --checkpoint or --features with "
                             "them (to resume, --out alone is enough)")
        return None
    return make_spec(args.checkpoint, args.features, args.data, args.data_root, args.split, args.limit, args.k,
                     args.seed, args.pca_dim)


def export(args: argparse.Namespace, session) -> None:
    from deepcluster.annotation import write_image_folder, write_labels_csv, write_labels_json

    if args.export_csv:
        print(f"wrote {write_labels_csv(session.store, args.export_csv)}")
    if args.export_json:
        print(f"wrote {write_labels_json(session.store, args.export_json)}")
    if args.export_folder:
        tree = write_image_folder(session.store, session.source, args.export_folder, args.copy)
        print(f"wrote {tree['folder']}: {tree['images']} labelled images in {len(tree['labels'])} label folders "
              f"({tree['mode']})")


def serve(args: argparse.Namespace, session) -> None:
    from deepcluster.annotation.server import create_app, is_loopback, serve as run_server
    from deepcluster.annotation.suggest import start_suggestion
    from deepcluster.annotation.thumbnails import Thumbnails

    loopback = is_loopback(args.host)
    token = args.token or (None if loopback else secrets.token_urlsafe(18))
    app = create_app(session.store, Thumbnails(session.source), token=token, loopback=loopback)
    start_suggestion(session.store, session.features, args.seed)
    progress = session.store.progress()

    def announce(port: int) -> None:
        shown = socket.gethostname() if args.host in ("0.0.0.0", "::") else args.host  # an address one can open
        shown = f"[{shown}]" if ":" in shown else shown
        query = f"?token={token}" if token else ""
        print(f"annotate: {progress['images']:,} images in {progress['clusters']} clusters, "
              f"{progress['labelled']:,} labelled, {progress['actions']} actions so far", flush=True)
        print(f"annotate: serving http://{shown}:{port}/{query}  (Ctrl-C stops; every action is already saved)",
              flush=True)

    run_server(app, args.host, args.port, announce)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a plain kill closes the store like Ctrl-C
    from deepcluster.annotation import StoreBusy, open_session

    exporting = bool(args.export_csv or args.export_json or args.export_folder)
    try:
        session = open_session(args.out, _spec(args), writer=not exporting)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError, StoreBusy) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if exporting:
            export(args, session)
        else:
            serve(args, session)
    except KeyboardInterrupt:
        print("annotate: stopped; every action is saved", flush=True)
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        session.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

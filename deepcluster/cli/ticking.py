"""A clock for one long call that reports nothing itself (faiss's PCA or k-means, an extraction into a log
file), so that a command never sits silent: the bar shows the time elapsed while the call runs."""

from __future__ import annotations

import contextlib
import threading

from tqdm.auto import tqdm


@contextlib.contextmanager
def ticking(desc: str, enabled: bool, interval: float | None = None):
    """A bar that shows the time elapsed while one long call runs (faiss releases the GIL, so it ticks):
    every ``interval`` seconds, by default 1 on a terminal and 15 into a log file."""
    if not enabled:
        yield
        return
    bar = tqdm(desc=desc, bar_format="{desc}: {elapsed} elapsed", leave=False)
    done = threading.Event()
    if interval is None:
        interval = 1.0 if getattr(bar.fp, "isatty", lambda: False)() else 15.0

    def tick() -> None:
        while not done.wait(interval):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        bar.close()

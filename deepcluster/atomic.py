"""Atomic file writes: a crash (or a full disk) at any instant leaves the old version or the new one.

The text goes to a temporary file in the same folder, is flushed and fsynced, then renamed over the
final name (``os.replace`` is atomic on POSIX); a failed write removes its temporary file.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

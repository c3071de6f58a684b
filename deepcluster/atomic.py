"""The one way this project writes a file: a crash or a full disk at any instant leaves the old version or the new one.

Bytes go to a uniquely named temporary file in the same folder, are flushed and fsynced, then renamed over
the final name (``os.replace`` is atomic on POSIX). A failed write removes its temporary file; a full disk
raises ``DiskFull``, whose message names the folder, what was being written and what to do. Files get the
usual ``0666 & ~umask`` permissions (``mkstemp`` alone would leave them readable by their owner only).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


# Crash tests only: SIGKILL this process in the middle of its N-th write (temp file written but not renamed;
# half a log line appended), as a power cut or an OOM kill would. Unset in every real run.
KILL_AT_WRITE = "DEEPCLUSTER_TEST_KILL_AT_WRITE"
_writes_started = 0


def _crash_point() -> None:
    global _writes_started
    _writes_started += 1
    if os.environ.get(KILL_AT_WRITE) == str(_writes_started):
        os.kill(os.getpid(), signal.SIGKILL)


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class DiskFull(OSError):
    """No space left where a file was being written; the previous version of the file is intact."""

    def __init__(self, path: Path, written: int):
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = 0
        self.message = (f"no space left on the device of {path.parent} while writing {path.name} (it needed more "
                        f"than the {written:,} bytes written when the disk filled; {free:,} bytes are free there); "
                        "the previous version is intact: free space there (old runs, checkpoints) and run the same "
                        "command again to resume")
        super().__init__(errno.ENOSPC, self.message)
        self.path = path
        self.written = written

    def __str__(self) -> str:
        return self.message


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file object whose contents replace ``path`` only once the ``with`` block finishes without error.

    Works with any writer that takes a file object: ``torch.save``, ``np.savez``, ``Image.save``, ``json.dump``.
    """
    if "w" not in mode:
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} must contain 'w'")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    written = 0
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            _crash_point()
            f.flush()
            written = f.tell()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # makes the rename itself durable
    except BaseException as err:
        with contextlib.suppress(OSError):
            written = written or os.path.getsize(tmp)
        Path(tmp).unlink(missing_ok=True)
        if _is_disk_full(err) and not isinstance(err, DiskFull):
            raise DiskFull(path, written) from err
        raise


def _is_disk_full(err: BaseException | None) -> bool:
    """ENOSPC anywhere in the chain: torch.save, for one, re-raises it as a RuntimeError."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def append_line(path: str | Path, line: str) -> None:
    """Append one line to a log (metrics.jsonl), flushed and fsynced. Not atomic: a crash can leave a torn
    last line, which the log's reader drops; a full disk raises ``DiskFull`` like the atomic writers."""
    path = Path(path)
    try:
        with open(path, "a") as f:
            text = line.rstrip("\n") + "\n"
            f.write(text[: len(text) // 2])
            f.flush()
            _crash_point()
            f.write(text[len(text) // 2:])
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        if _is_disk_full(err):
            raise DiskFull(path, len(line)) from err
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json_atomic(path: str | Path, payload: Any, indent: int | None = 2, default=None) -> None:
    """``default`` as for ``json.dumps`` (e.g. ``float`` for numpy scalars)."""
    write_text_atomic(path, json.dumps(payload, indent=indent, default=default) + "\n")

"""Files written whole or not at all: the one atomic writer (photos, backups, exports, models)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: Path, write: Callable[[Path], None] | bytes) -> Path:
    """Write ``path`` so that it is never seen half-written: ``write(tmp)`` (or these bytes) on a
    temporary file beside it, renamed into place; on any failure the temporary file is removed.

    The temporary file is ``.<name>.<random>.<pid>.tmp``: hidden, and naming the process, so that
    ``backup.prune`` can clear one left by a killed process. The file is made 0644 (mkstemp makes
    0600): a shipped model is an ordinary repository file, and a cache others may read.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{os.getpid()}.tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if isinstance(write, bytes):
            tmp.write_bytes(write)
        else:
            write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # kill point: temp-written
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

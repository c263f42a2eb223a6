"""Writing output files so that a failure never leaves half a file behind."""

from __future__ import annotations

import os
import tempfile


def write_atomically(path: str, data: str | bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then move it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".archlang-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

"""Writing output files so that a failure never leaves half a file behind, and nothing but the
file the user named is changed.

- A symbolic link is followed: its target is replaced, the link stays.
- A device or a FIFO (``-o /dev/null``, ``-o /dev/stdout``, a pipe) is written through, never
  replaced by a regular file.
- A replaced file keeps its permission bits (and, where allowed, its owner); a new file gets the
  mode that the umask gives, as ``open`` would.
- The data is flushed to disk before the rename; the temporary file is removed on any error
  and on SIGTERM.
- An output that is one of the command's inputs is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
import threading
from typing import Iterable, Iterator


class OutputIsInput(OSError):
    """The output path names a file the command reads."""

    def __init__(self, path: str):
        super().__init__(errno.EEXIST, "it is one of the input files; choose another output", path)


def write_atomically(path: str | os.PathLike, data: str | bytes, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Write ``data`` to ``path`` as described in this module's docstring. ``inputs`` are the
    files the command read: writing over one of them raises :class:`OutputIsInput`."""
    # backslashreplace: a name from an undecodable file name is written escaped, not refused
    payload = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    target = os.path.realpath(os.fspath(path))  # a symlink's target, so the link survives
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None:
        _refuse_inputs(existing, inputs, target)
        if stat.S_ISDIR(existing.st_mode):
            raise IsADirectoryError(errno.EISDIR, "it is a folder", os.fspath(path))
        if not stat.S_ISREG(existing.st_mode):  # a device, a FIFO, a socket: write through
            with open(target, "wb") as f:
                f.write(payload)
            return
    _replace(target, payload, existing)


def _refuse_inputs(existing: os.stat_result, inputs: Iterable[str | os.PathLike], target: str) -> None:
    for item in inputs:
        try:
            other = os.stat(item)
        except (OSError, ValueError):
            continue
        if (other.st_dev, other.st_ino) == (existing.st_dev, existing.st_ino):
            raise OutputIsInput(target)


def _replace(target: str, payload: bytes, existing: os.stat_result | None) -> None:
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, "its folder does not exist", target)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".archlang-", suffix=".tmp")
    try:
        with _removed_on_sigterm(tmp), os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            _copy_metadata(f.fileno(), existing)
            os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _copy_metadata(fd: int, existing: os.stat_result | None) -> None:
    """The replaced file's mode and owner, or the umask's mode for a new file."""
    if existing is None:
        os.fchmod(fd, 0o666 & ~_umask())
        return
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))
    with contextlib.suppress(OSError):  # only root may give a file away; others keep their own
        if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
            os.fchown(fd, existing.st_uid, existing.st_gid)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class Terminated(BaseException):
    """SIGTERM arrived while a temporary file existed."""


@contextlib.contextmanager
def _removed_on_sigterm(tmp: str) -> Iterator[None]:
    """While writing, SIGTERM raises :class:`Terminated` (so the temporary file is removed on
    the way out) and is then delivered again with the handler that was there before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    if previous is None:  # installed from outside Python: the default is the closest
        previous = signal.SIG_DFL
    try:
        yield
    except Terminated:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        signal.signal(signal.SIGTERM, previous)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)

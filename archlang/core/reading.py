"""Reading spec files safely: regular files only (a FIFO or a device is refused before a byte
is read, so `check /dev/zero` or a FIFO cannot hang), at most :data:`MAX_SPEC_BYTES`, UTF-8."""

from __future__ import annotations

import os
import stat
import sys

from .limits import MAX_SPEC_BYTES


class SpecReadError(Exception):
    """A spec cannot be read; ``reason`` is a lowercase phrase for ``cannot read `x`: ...``."""

    def __init__(self, reason: str, help: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.help = help


_TOO_BIG_HELP = f"archlang reads specs of up to {MAX_SPEC_BYTES // (1024 * 1024)} MiB"


def read_spec_file(path: str | os.PathLike) -> str:
    """The UTF-8 text of the regular file at ``path`` (a leading byte-order mark dropped)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked right after
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except ValueError:  # a NUL byte in the name
        raise SpecReadError("the file name contains a NUL byte") from None
    except OSError as exc:
        raise SpecReadError(_reason(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SpecReadError("it is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise SpecReadError("it is not a regular file (a device, a FIFO or a socket)",
                                "give the path of a `.arch` file, or `-` to read standard input")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecReadError(_reason(exc)) from None
    finally:
        if fd >= 0:
            os.close(fd)
    return _decode(data)


def read_stdin() -> str:
    """Standard input as a spec, with the same size bound; closed or missing input is an error."""
    stream = sys.stdin
    if stream is None:
        raise SpecReadError("standard input is closed")
    try:
        raw = getattr(stream, "buffer", None)
        if raw is not None:
            return _decode(raw.read(MAX_SPEC_BYTES + 1))
        text = stream.read(MAX_SPEC_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: reading a closed file
        raise SpecReadError(_reason(exc) if isinstance(exc, OSError) else "standard input is closed") from None
    if len(text) > MAX_SPEC_BYTES:
        raise SpecReadError(f"it is larger than {MAX_SPEC_BYTES:,} bytes", _TOO_BIG_HELP)
    return text.removeprefix("\ufeff")


def _decode(data: bytes) -> str:
    if len(data) > MAX_SPEC_BYTES:
        raise SpecReadError(f"it is larger than {MAX_SPEC_BYTES:,} bytes", _TOO_BIG_HELP)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise SpecReadError("it is not UTF-8 text") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()

"""Whether to colour a stream, by the conventions people set in their environment.

``NO_COLOR`` (no-color.org) set to anything but the empty string turns colours off;
``FORCE_COLOR`` (force-color.org) set to anything but the empty string turns them on where the
stream is not a terminal (CI logs, ``less -R``). ``NO_COLOR`` wins when both are set, as rich
does. Without either, colours go to terminals only.
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO


def wants_colour(stream: TextIO) -> bool:
    """Whether to write colours to ``stream``."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", ""):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_width(stream: TextIO) -> int | None:
    """The width of the terminal ``stream`` writes to; ``None`` for a pipe or a file, which have none."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return None
    return shutil.get_terminal_size().columns

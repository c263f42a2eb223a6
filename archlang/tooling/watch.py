"""``archlang check --watch``: check, then check again after every save, redrawing the output."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

CLEAR = "\x1b[2J\x1b[H"  # clear the screen, cursor home
DEBOUNCE_MS = 100  # editors write a file in several steps; one check per save


def run_watch(args: argparse.Namespace, check_once: Callable[[argparse.Namespace], int], watchfiles: Any) -> int:
    """Check ``args.file`` with ``check_once``, then again whenever an `.arch` file in its folder
    changes (editors often save by replacing the file); until Ctrl-C (KeyboardInterrupt)."""
    folder = Path(args.file).resolve().parent

    def relevant(change: Any, changed: str) -> bool:
        return changed.endswith(".arch")

    _draw(args, check_once, first=True)
    for _ in watchfiles.watch(folder, watch_filter=relevant, debounce=DEBOUNCE_MS, raise_interrupt=True):
        _draw(args, check_once, first=False)
    return 0


def _draw(args: argparse.Namespace, check_once: Callable[[argparse.Namespace], int], first: bool) -> None:
    from ..core.errors import ArchError

    terminal = sys.stdout.isatty()
    if terminal:
        sys.stdout.write(CLEAR)
    elif not first:
        print()
    try:
        status = check_once(args)
    except ArchError as exc:
        print(exc.render(), file=sys.stderr)
        status = exc.exit_status
    sys.stderr.flush()
    print(f"[{time.strftime('%H:%M:%S')}] checked {args.file}: "
          f"{'ok' if status == 0 else 'errors'} (exit {status}); watching for changes, Ctrl-C to stop", flush=True)

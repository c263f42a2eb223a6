"""``python -m archlang.tooling.hooks FILE...``: the pre-commit hook's check of several specs.
Each spec is analysed as ``archlang check`` analyses it; its warnings and errors are printed
(the table is not), and the exit status is the worst one: 0 ok, 1 errors in a spec, 2 a file
problem."""

from __future__ import annotations

import sys
from typing import Sequence

from ..api import load_file
from ..core.errors import ArchError, ExitCode, print_diagnostics


def check_files(files: Sequence[str]) -> int:
    status = ExitCode.OK
    for name in files:
        try:
            graph = load_file(name)
        except ArchError as exc:
            print(exc.render(), file=sys.stderr)
            status = max(status, exc.exit_status)
            continue
        print_diagnostics(graph.warnings, graph.sources)
    return int(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(check_files(sys.argv[1:]))

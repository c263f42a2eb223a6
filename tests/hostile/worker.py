"""Runs corpus cases in one process: ``python -m hostile.worker`` reads ``[[index, folder], ...]``
as JSON on standard input and prints one JSON line per case: its status, stdout and stderr.
Each case runs under a CPU timer; the parent process sets the memory and total CPU limits."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from hostile.corpus import CASES, Case

CPU_SECONDS = 10
CPU_SECONDS_TORCH = 30


class CpuTimeExceeded(Exception):
    """The per-case CPU timer fired."""


def run_case(case: Case, folder: str) -> tuple[int, str, str]:
    """``archlang ARGS`` in this process, with the case's environment and standard input."""
    from archlang.cli import main

    saved_env = {k: os.environ.get(k) for k in case.env}
    os.environ.update(case.env)
    saved_stdin, sys.stdin = sys.stdin, io.StringIO(case.stdin or "")
    out, err = io.StringIO(), io.StringIO()
    limit = CPU_SECONDS_TORCH if case.torch else CPU_SECONDS

    def expire(signum: int, frame: Any) -> None:
        raise CpuTimeExceeded(f"more than {limit} CPU-seconds")

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, limit)  # this process's CPU time, not the wall clock
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                status = main([a.replace("{d}", folder) for a in case.args])
            except SystemExit as exc:  # argparse
                status = int(exc.code or 0)
            except BaseException as exc:  # noqa: BLE001 - reported as the traceback it would print
                import traceback

                err.write("Traceback (most recent call last):\n" + "".join(traceback.format_exception(exc)))
                status = -1
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
        sys.stdin = saved_stdin
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return status, out.getvalue(), err.getvalue()


def main() -> None:
    for index, folder in json.load(sys.stdin):
        status, out, err = run_case(CASES[index], folder)
        print(json.dumps({"index": index, "status": status, "out": out[-4000:], "err": err[-6000:]}), flush=True)


if __name__ == "__main__":
    main()

"""Mutation fuzzing of specs/: a fixed-seed run of a few hundred mutants through `archlang
check` (in-process, each under a CPU timer), which must end with 0, 1 or 2, with diagnostics
for 1 and 2, and no exception. bench/fuzz_specs.py runs the same for as long as one likes."""

from __future__ import annotations

import io
import random
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from conftest import SPECS
from hostile.mutate import mutate

MUTANTS = 300
SEED = 20260101
CPU_SECONDS = 10


def check_mutant(text: str, folder: Path) -> tuple[int, str]:
    """Run `archlang check` on ``text``; returns (status, stderr). Raises if archlang raises,
    or if the check takes more than CPU_SECONDS of CPU time."""
    from archlang.cli import main

    path = folder / "mutant.arch"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    out, err = io.StringIO(), io.StringIO()

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"more than {CPU_SECONDS} CPU-seconds")

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, CPU_SECONDS)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = main(["check", str(path)])
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
    return status, err.getvalue()


def mutants(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    sources = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(SPECS.glob("*.arch"))]
    return [(name, mutate(text, rng)) for name, text in (rng.choice(sources) for _ in range(count))]


def test_mutants_of_the_specs_end_cleanly(tmp_path: Path) -> None:
    statuses: dict[int, int] = {}
    for index, (name, text) in enumerate(mutants(MUTANTS, SEED)):
        try:
            status, err = check_mutant(text, tmp_path)
        except Exception as exc:  # noqa: BLE001 - any exception is the finding
            pytest.fail(f"mutant {index} of {name} raised {type(exc).__name__}: {exc}\n{text!r:.3000}")
        assert status in (0, 1, 2), (index, name, status, err)
        if status:
            assert "error" in err and "Traceback" not in err, (index, name, err)
        statuses[status] = statuses.get(status, 0) + 1
    assert sum(statuses.values()) == MUTANTS
    assert statuses.get(1, 0) > MUTANTS // 4  # the mutations do break specs

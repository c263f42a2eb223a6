"""Longer mutation fuzzing of specs/ than the test suite's: ``python bench/fuzz_specs.py``.

ARCHLANG_FUZZ_MUTANTS (default 5000) sets how many mutants, ARCHLANG_FUZZ_SEED the seed (default:
from the clock, printed). The whole run has a memory limit (ARCHLANG_FUZZ_MEMORY_GIB, default 4)
and each mutant a CPU-time limit (10 s). Every mutant that raises, takes too long, or exits with
something other than 0, 1 or 2 is written to bench/fuzz_findings/ and counted; the exit status
is 1 if there was any."""

from __future__ import annotations

import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_mutation_fuzz import check_mutant, mutants  # noqa: E402


def main() -> int:
    count = int(os.environ.get("ARCHLANG_FUZZ_MUTANTS", "5000"))
    seed = int(os.environ.get("ARCHLANG_FUZZ_SEED", str(int(time.time()))))
    memory = int(float(os.environ.get("ARCHLANG_FUZZ_MEMORY_GIB", "4")) * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    findings = ROOT / "bench" / "fuzz_findings"
    statuses: dict[str, int] = {}
    start = time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        for index, (name, text) in enumerate(mutants(count, seed)):
            try:
                status, err = check_mutant(text, Path(folder))
                outcome = str(status) if status in (0, 1, 2) and "Traceback" not in err else f"bad exit {status}"
            except BaseException as exc:  # noqa: BLE001 - anything is a finding, even SystemExit
                if isinstance(exc, KeyboardInterrupt):
                    raise
                outcome = f"{type(exc).__name__}: {str(exc)[:200]}"
            statuses[outcome if outcome in ("0", "1", "2") else "finding"] = statuses.get(
                outcome if outcome in ("0", "1", "2") else "finding", 0) + 1
            if outcome not in ("0", "1", "2"):
                findings.mkdir(exist_ok=True)
                out = findings / f"seed{seed}-{index}-{name}"
                out.write_text(text, encoding="utf-8", errors="surrogatepass")
                print(f"mutant {index} of {name}: {outcome} -> {out}", flush=True)
    seconds = time.process_time() - start
    print(f"seed {seed}: {count} mutants in {seconds:.1f} CPU-s; exit 0: {statuses.get('0', 0)}, "
          f"exit 1: {statuses.get('1', 0)}, exit 2: {statuses.get('2', 0)}, findings: {statuses.get('finding', 0)}")
    return 1 if statuses.get("finding") else 0


if __name__ == "__main__":
    sys.exit(main())

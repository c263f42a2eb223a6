"""How fast is `archlang check`? Whole processes, timed against `python -c "import torch"`
measured in the same run on the same machine.

    python bench/check_speed.py [--runs 7]

Goals: a ~120-layer spec checks in at most 0.15x the time of importing torch; a 10,000-layer
spec checks in under 2 s."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], runs: int) -> float:
    """Median wall time of ``cmd`` over ``runs`` runs, after one warm-up run."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def big_spec(folder: Path, layers: int) -> Path:
    path = folder / "big.arch"
    path.write_text(f"input 32x32x16\n(conv 3x3 same x16 nobias -> bn -> relu) * {(layers - 3) // 3}\n"
                    "-> gap -> flatten -> fc 10\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    check = [sys.executable, "-m", "archlang.cli", "check"]
    with tempfile.TemporaryDirectory() as tmp:
        spec_10k = big_spec(Path(tmp), 10_000)
        torch_import = wall([sys.executable, "-c", "import torch"], args.runs)
        resnet34 = wall(check + [str(ROOT / "specs" / "resnet.arch"), "-D", "depth=34"], args.runs)
        big = wall(check + [str(spec_10k)], max(3, args.runs // 2))
    print(f"python -c 'import torch'              {torch_import * 1000:8.0f} ms   (baseline)")
    print(f"archlang check resnet.arch (125 layers) {resnet34 * 1000:8.0f} ms   "
          f"ratio {resnet34 / torch_import:.3f} (goal <= 0.15)")
    print(f"archlang check 10,000 layers           {big * 1000:8.0f} ms   "
          f"ratio {big / torch_import:.3f}; goal < 2 s: {'met' if big < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()

"""What do the analyses cost? Whole processes, as `bench/check_speed.py` times them.

    python bench/analyses_speed.py [--runs 7]

Goals: `check` with the analyses stays within check's budget (at most 0.15x the time of
importing torch for ResNet-34, whose table always carries the training memory and lints);
receptive fields and counts, computed only when asked, add little; `archlang sizes` answers
for ResNet-50 up to 4096 in under a second."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_speed import wall  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "archlang.cli"]
    resnet = str(ROOT / "specs" / "resnet.arch")
    torch_import = wall([sys.executable, "-c", "import torch"], args.runs)
    timings = {
        "check resnet-34 (table)": wall(cli + ["check", resnet, "-D", "depth=34"], args.runs),
        "check resnet-34 --rf --count fvcore": wall(cli + ["check", resnet, "-D", "depth=34", "--rf", "--count",
                                                           "fvcore"], args.runs),
        "check resnet-34 --format json": wall(cli + ["check", resnet, "-D", "depth=34", "--format", "json"], args.runs),
        "check googlenet (concat lint)": wall(cli + ["check", str(ROOT / "specs" / "googlenet.arch")], args.runs),
        "sizes resnet-50 --upto 4096": wall(cli + ["sizes", resnet, "--upto", "4096"], args.runs),
        "diff resnet-50 resnet-101": wall(cli + ["diff", resnet, resnet, "--db", "depth=101"], args.runs),
    }
    print(f"{'python -c import torch':40} {torch_import * 1000:8.0f} ms   (baseline)")
    for name, seconds in timings.items():
        print(f"{name:40} {seconds * 1000:8.0f} ms   ratio {seconds / torch_import:.3f}")
    print(f"check goal (ratio <= 0.15): {'met' if timings['check resnet-34 (table)'] / torch_import <= 0.15 else 'NOT met'};"
          f" sizes goal (< 1 s): {'met' if timings['sizes resnet-50 --upto 4096'] < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()

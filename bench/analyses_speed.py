"""What do the analyses cost? Whole processes, timed as `bench/run.py` times them (`procs`:
interleaved with `python -c "import torch"` run by run, CPU time, compiled bytecode).

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
import procs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    cli = (procs.PYTHON, "-m", "archlang.cli")
    resnet = str(ROOT / "specs" / "resnet.arch")
    commands = {
        "check resnet-34 (table)": cli + ("check", resnet, "-D", "depth=34"),
        "check resnet-34 --rf --count fvcore": cli + ("check", resnet, "-D", "depth=34", "--rf", "--count", "fvcore"),
        "check resnet-34 --format json": cli + ("check", resnet, "-D", "depth=34", "--format", "json"),
        "check googlenet (concat lint)": cli + ("check", str(ROOT / "specs" / "googlenet.arch")),
        "sizes resnet-50 --upto 4096": cli + ("sizes", resnet, "--upto", "4096"),
        "diff resnet-50 resnet-101": cli + ("diff", resnet, resnet, "--db", "depth=101"),
    }
    base, samples = procs.interleaved(commands, args.runs, ROOT)
    print(f"{'python -c import torch':40} {base.cpu_median * 1000:8.0f} ms CPU   (baseline)")
    for name, sample in samples.items():
        print(f"{name:40} {sample.cpu_median * 1000:8.0f} ms CPU   ratio {procs.ratio(sample, base):.3f}")
    check = procs.ratio(samples["check resnet-34 (table)"], base)
    sizes = samples["sizes resnet-50 --upto 4096"].cpu_median
    print(f"check goal (ratio <= 0.15): {'met' if check <= 0.15 else 'NOT met'};"
          f" sizes goal (< 1 s): {'met' if sizes < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()

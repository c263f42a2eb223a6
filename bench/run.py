"""archlang's benchmarks, one table. Every whole-process figure is a median over runs that were
interleaved with their baseline (``python -c "import torch"``, or for scaling the same command on a
10-layer spec), in CPU time (user + system of the child) beside wall time, with compiled bytecode.

    python bench/run.py [--quick] [--runs N] [--only startup,scaling,construction,forward]

``--quick`` takes fewer runs and leaves the 100,000-layer specs at one run each."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import procs  # noqa: E402
import specs  # noqa: E402

ROOT = procs.ROOT
CLI = (procs.PYTHON, "-m", "archlang.cli")
GOALS = {"check resnet50": 0.04, "render dot 10k layers": 0.2, "compile source 10k layers": 0.2}


def row(what: str, cpu: str, wall: str, ratio: str, note: str = "") -> None:
    print(f"{what:38} {cpu:>12} {wall:>12} {ratio:>9}  {note}")


def header(title: str, ratio_to: str) -> None:
    print(f"\n## {title}")
    row("what", "CPU", "wall", ratio_to)
    row("-" * 38, "-" * 12, "-" * 12, "-" * 9)


def startup(folder: Path, runs: int) -> None:
    """Start-up and the static commands, against ``import torch`` run by run."""
    deep = specs.write(folder, "deep.arch", specs.deep(10_000))
    resnet = str(ROOT / "specs" / "resnet.arch")
    commands = {
        "python -c pass": (procs.PYTHON, "-c", "pass"),
        "import lark (the parser library)": (procs.PYTHON, "-c", "import lark"),
        "import archlang": (procs.PYTHON, "-c", "import archlang"),
        "check resnet50": CLI + ("check", resnet, "-D", "depth=50"),
        "check resnet50, colour, 80 columns": ("env", "FORCE_COLOR=1", "TERM=xterm-256color") + CLI + (
            "check", resnet, "-D", "depth=50", "--width", "80"),
        "check resnet152": CLI + ("check", resnet, "-D", "depth=152"),
        "check efficientnet-b7": CLI + ("check", str(ROOT / "specs" / "efficientnet.arch"), "-D", "width=2.0",
                                        "-D", "depth=3.1", "-D", "res=600"),
        "render dot 10k layers": CLI + ("render", str(deep), "-o", str(folder / "deep.dot")),
        "compile source 10k layers": CLI + ("compile", str(deep)),
    }
    base, samples = procs.interleaved(commands, runs, folder)
    header(f"start-up and static commands (medians of {runs}, interleaved)", "/ torch")
    row("python -c 'import torch' (baseline)", f"{base.cpu_median * 1e3:.0f} ms", f"{base.wall_median * 1e3:.0f} ms",
        "1")
    for name, sample in samples.items():
        goal = GOALS.get(name)
        r = procs.ratio(sample, base)
        low, high = procs.ratio_spread(sample, base)
        note = f"quartiles {low:.3f}-{high:.3f}" + (f"; goal <= {goal}: {'met' if r <= goal else 'NOT met'}"
                                                    if goal else "")
        row(name, f"{sample.cpu_median * 1e3:.0f} ms", f"{sample.wall_median * 1e3:.0f} ms", f"{r:.3f}", note)


def scaling(folder: Path, runs: int, sizes: tuple[int, ...], quick: bool) -> None:
    """``archlang check`` at growing sizes, each form interleaved with its 10-layer spec."""
    header("scaling: archlang check (CPU over the 10-layer floor; slope of log time on log size)", "slope")
    for form in specs.FORMS:
        floor_cmd = CLI + ("check", str(specs.scaling(folder, form, 10)))
        cpu, rss = [], []
        for n in sizes:
            n_runs = 1 if quick and n >= 100_000 else runs
            base, samples = procs.interleaved({"n": CLI + ("check", str(specs.scaling(folder, form, n)))}, n_runs,
                                              folder, baseline=floor_cmd)
            s = samples["n"]
            extra = statistics.median(c - b for c, b in zip(s.cpu, base.cpu))
            cpu.append(max(extra, 1e-6))
            rss.append(s.rss_median - base.rss_median)
            goal = f"goal < 5 s: {'met' if s.cpu_median < 5 else 'NOT met'}" if n >= 100_000 else ""
            row(f"{form} {n:,} layers", f"{s.cpu_median:.2f} s", f"{s.wall_median:.2f} s", "",
                f"{extra / n * 1e6:.0f} us/layer over the floor; rss {s.rss_median / 2**20:.0f} MiB {goal}")
        fit = procs.slope(list(sizes), cpu)
        per_layer = (rss[-1] - rss[0]) / (sizes[-1] - sizes[0])
        row(f"{form}: fit", "", "", f"{fit:.2f}", f"{per_layer:.0f} bytes/layer (peak RSS, "
            f"{sizes[0]:,} to {sizes[-1]:,})")


def _median_pair(make_a, make_b, runs: int) -> tuple[list[float], list[float], list[float], list[float]]:
    """CPU and wall seconds of ``make_a()`` and ``make_b()``, alternated run by run, each going
    first in every other pair (the second of a pair finds the allocator and caches warmer)."""
    import gc

    cpu_a, cpu_b, wall_a, wall_b = [], [], [], []
    make_a(), make_b()  # warm-up: imports, caches
    for run in range(runs):
        pair = [(make_a, cpu_a, wall_a), (make_b, cpu_b, wall_b)]
        for fn, cpus, walls in pair if run % 2 == 0 else pair[::-1]:
            gc.collect()
            c, w = time.process_time(), time.perf_counter()
            fn()
            cpus.append(time.process_time() - c)
            walls.append(time.perf_counter() - w)
    return cpu_a, cpu_b, wall_a, wall_b


def _pair_row(what: str, result: tuple[list[float], ...], goal: float) -> None:
    cpu_a, cpu_b, wall_a, wall_b = result
    r = statistics.median(a / b for a, b in zip(cpu_a, cpu_b))
    row(what, f"{statistics.median(cpu_a) * 1e3:.0f}/{statistics.median(cpu_b) * 1e3:.0f} ms",
        f"{statistics.median(wall_a) * 1e3:.0f}/{statistics.median(wall_b) * 1e3:.0f} ms", f"{r:.3f}",
        f"goal <= {goal}: {'met' if r <= goal else 'NOT met'}")


def torchvision_models():
    """torchvision's model constructors, or None where it cannot be imported. Its import
    registers fake kernels through ``torch.library.register_fake``, which the pinned CPU build
    refuses for its operators; a no-op decorator stands in, as in the tests."""
    import torch

    try:
        original = torch.library.register_fake
        torch.library.register_fake = lambda *a, **k: (lambda fn: fn)
        try:
            import torchvision
        finally:
            torch.library.register_fake = original
        return torchvision.models
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return None


ZOO = {
    "resnet50": ("resnet.arch", {"depth": 50}),
    "mobilenet_v2": ("mobilenet_v2.arch", {}),
    "efficientnet_b0": ("efficientnet.arch", {"width": 1.0, "depth": 1.0, "res": 224}),
}


def construction(folder: Path, runs: int) -> None:
    import torch
    from torch import nn

    import archlang

    torch.set_num_threads(2)
    header("construction, in process (archlang.compile / reference; CPU ms, wall ms)", "ratio")
    deep = specs.write(folder, "deep.arch", specs.deep(10_000))

    def sequential() -> nn.Module:
        layers: list[nn.Module] = []
        for _ in range((10_000 - 3) // 3):
            layers += [nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    from archlang.emit.build import _COMPILED

    def cold() -> nn.Module:  # a spec compiled for the first time in the process: analysis and codegen too
        _COMPILED.clear()
        return archlang.compile(deep)

    _pair_row("10k layers vs nn.Sequential", _median_pair(lambda: archlang.compile(deep), sequential, runs), 1.1)
    _pair_row("10k layers, first compile in the process", _median_pair(cold, sequential, runs), 1.1)
    models = torchvision_models()
    if models is None:
        row("torchvision", "", "", "", "cannot be imported here: constructor comparisons skipped")
        return
    for name, (spec, params) in ZOO.items():
        path = ROOT / "specs" / spec
        ctor = getattr(models, name)

        def first_build() -> nn.Module:  # analysis, constructor-argument probes, codegen, compile
            _COMPILED.clear()
            return archlang.compile(path, **params)

        _pair_row(f"{name} vs torchvision", _median_pair(lambda: archlang.compile(path, **params),
                                                         lambda: ctor(weights=None), runs), 1.0)
        _pair_row(f"{name}, first build in the process", _median_pair(first_build, lambda: ctor(weights=None), runs),
                  1.0)


def forward(runs: int) -> None:
    import torch

    import archlang

    torch.set_num_threads(2)
    models = torchvision_models()
    header(f"forward on CPU, {torch.get_num_threads()} threads, eval, inference_mode (archlang / torchvision)",
           "ratio")
    if models is None:
        row("torchvision", "", "", "", "cannot be imported here: forward comparisons skipped")
        return
    for name, (spec, params) in ZOO.items():
        ours = archlang.compile(ROOT / "specs" / spec, **params).eval()
        theirs = getattr(models, name)(weights=None).eval()
        theirs.load_state_dict(dict(zip(theirs.state_dict(), ours.state_dict().values())))
        size = 224
        for batch in (1, 16):
            x = torch.randn(batch, 3, size, size)
            with torch.inference_mode():
                result = _median_pair(lambda: ours(x), lambda: theirs(x), runs if batch == 1 else max(3, runs // 2))
                faults = _page_faults(lambda: ours(x)), _page_faults(lambda: theirs(x))
            _pair_row(f"{name} batch {batch}", result, 1.02)
            row("", "", "", "", f"minor page faults a pass: {faults[0]:,} / {faults[1]:,}")


def _page_faults(run) -> int:
    """Minor page faults of one call: on CPU, glibc gives large freed blocks back to the system
    and the next tensor faults its pages in again, which is much of a batch-16 forward pass."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    run()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs; 100k-layer specs once")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 7, quick 3)")
    parser.add_argument("--only", default="startup,scaling,construction,forward")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    parts = set(args.only.split(","))
    import os
    import platform

    print(f"# archlang benchmarks: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start, {runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "startup" in parts:
            startup(folder, runs)
        if "scaling" in parts:
            scaling(folder, min(runs, 3), (1_000, 10_000, 100_000), args.quick)
        if "construction" in parts:
            construction(folder, runs)
        if "forward" in parts:
            forward(runs)


if __name__ == "__main__":
    main()

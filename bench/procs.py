"""Whole-process timing that cannot flatter: each measured command runs interleaved with its
baseline, run by run, so that drift in the machine's load hits both alike; CPU time (user + system,
read per child with ``os.wait4``) is reported beside wall time; medians of several runs; compiled
bytecode (the environment's ``PYTHONDONTWRITEBYTECODE`` is removed and every command runs once
before it is timed, so the ``.pyc`` files exist)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BASELINE = (PYTHON, "-c", "import torch")


@dataclass
class Sample:
    """One command's runs: wall and CPU seconds, peak resident memory in bytes."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def rss_median(self) -> int:
        return int(statistics.median(self.rss))


def environment() -> dict[str, str]:
    """The caller's environment with bytecode writing on and this checkout first on the path."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT)  # this checkout's archlang, whatever is installed
    return env


def run_once(cmd: tuple[str, ...], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """``(wall s, cpu s, max rss bytes)`` of one run of ``cmd``; a failing command is an error."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr_text = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr_text.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def interleaved(commands: dict[str, tuple[str, ...]], runs: int, cwd: Path,
                baseline: tuple[str, ...] = BASELINE) -> tuple[Sample, dict[str, Sample]]:
    """Time ``commands`` and the baseline ``runs`` times each, in rounds: baseline, then every
    command, then the next round. One untimed warm-up round first compiles the bytecode."""
    env = environment()
    for cmd in (baseline, *commands.values()):
        run_once(cmd, env, cwd)
    base, samples = Sample(), {name: Sample() for name in commands}
    for _ in range(runs):
        for sample, cmd in ((base, baseline), *((samples[n], c) for n, c in commands.items())):
            wall, cpu, rss = run_once(cmd, env, cwd)
            sample.wall.append(wall)
            sample.cpu.append(cpu)
            sample.rss.append(rss)
    return base, samples


def ratio(sample: Sample, base: Sample) -> float:
    """Median over rounds of the per-round CPU ratio: each run against the baseline beside it."""
    return statistics.median(c / b for c, b in zip(sample.cpu, base.cpu))


def ratio_spread(sample: Sample, base: Sample) -> tuple[float, float]:
    """The per-round CPU ratios' lower and upper quartiles: how far one round strays from the
    median on a shared machine (with fewer than four rounds, the lowest and the highest)."""
    ratios = sorted(c / b for c, b in zip(sample.cpu, base.cpu))
    if len(ratios) < 4:
        return ratios[0], ratios[-1]
    quartiles = statistics.quantiles(ratios, n=4)
    return quartiles[0], quartiles[2]


def slope(sizes: list[int], seconds: list[float]) -> float:
    """The exponent k of ``seconds ~ size**k`` fitted by least squares on logarithms (1: linear)."""
    import math

    xs, ys = [math.log(s) for s in sizes], [math.log(max(t, 1e-9)) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)

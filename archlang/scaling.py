"""EfficientNet's compound scaling (Tan and Le, 2019): depth alpha^phi, width beta^phi and
resolution gamma^phi, with alpha * beta^2 * gamma^2 close to 2, so that each step of phi about
doubles the multiplies. ``archlang scale`` applies it to a spec's `depth`, `width` and `res`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from .api import load_file
from .errors import ArchError, Diagnostic
from .formats import human

NEEDED = ("depth", "width", "res")


@dataclass(frozen=True)
class Step:
    phi: int
    depth: float
    width: float
    res: int
    params: int
    mults: int


def compound(spec: str, phi_max: int, alpha: float, beta: float, gamma: float,
             params: dict[str, float] | None = None) -> list[Step]:
    """Analyse the spec at phi = 0..phi_max, scaling its header's depth, width and res."""
    base = load_file(spec, params)
    missing = [name for name in NEEDED if name not in base.params]
    if missing:
        raise ArchError([Diagnostic(
            "error", f"`{spec}` has no header parameter{'s' if len(missing) > 1 else ''} "
                     f"{', '.join(f'`{m}`' for m in missing)} to scale", None,
            help="declare them: `network name(depth = 1.0, width = 1.0, res = 224)` and use them "
                 "in repeats, channels and `input (res)x(res)x3`", code="usage")])
    steps = []
    for phi in range(phi_max + 1):
        depth = base.params["depth"] * alpha ** phi
        width = base.params["width"] * beta ** phi
        res = int(round(base.params["res"] * gamma ** phi))
        graph = load_file(spec, {**(params or {}), "depth": depth, "width": width, "res": res})
        steps.append(Step(phi, depth, width, res, sum(n.params for n in graph.layers),
                          sum(n.mults for n in graph.layers)))
    return steps


def table(steps: list[Step], alpha: float, beta: float, gamma: float) -> str:
    flops = alpha * beta ** 2 * gamma ** 2
    header = ("phi", "depth", "width", "res", "params", "mults", "mults / phi=0", f"{flops:.3f}^phi")
    rows = [header] + [(str(s.phi), f"{s.depth:.3f}", f"{s.width:.3f}", str(s.res), f"{s.params:,}",
                        f"{s.mults:,} ({human(s.mults)})", f"{s.mults / steps[0].mults:.2f}",
                        f"{flops ** s.phi:.2f}") for s in steps]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    note = f"alpha={alpha} beta={beta} gamma={gamma}: alpha * beta^2 * gamma^2 = {flops:.3f}"
    return "\n".join([note, *lines]) + "\n"


def cmd_scale(args: argparse.Namespace) -> int:
    if args.phi < 0:
        print("error: --phi must be 0 or more", file=sys.stderr)
        return 2
    steps = compound(args.file, args.phi, args.alpha, args.beta, args.gamma, dict(args.defines))
    sys.stdout.write(table(steps, args.alpha, args.beta, args.gamma))
    return 0

"""EfficientNet's compound scaling (Tan and Le, 2019): depth alpha^phi, width beta^phi and
resolution gamma^phi, with alpha * beta^2 * gamma^2 close to 2, so that each step of phi about
doubles the multiplies. ``archlang scale`` applies it to a spec's `depth`, `width` and `res`."""

from __future__ import annotations

from .core.records import dataclass

from .api import load_file
from .core.errors import ArchError, Diagnostic, Severity
from .core.ir import Graph, Runs

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
             params: dict[str, float] | None = None, input_shape: tuple[int, ...] | None = None,
             variant: str | None = None) -> list[Step]:
    """Analyse the spec at phi = 0..phi_max, scaling its header's depth, width and res."""
    return compound_from(load_file(spec, params, input_shape, variant), spec, phi_max, alpha, beta, gamma, params,
                         input_shape, variant)


def compound_from(base: Graph, spec: str, phi_max: int, alpha: float, beta: float, gamma: float,
                  params: dict[str, float] | None = None,
                  input_shape: tuple[int, ...] | None = None, variant: str | None = None) -> list[Step]:
    """:func:`compound` from the spec's analysis at its own parameters, ``base``, which serves as
    phi = 0 where scaling leaves the parameters as they are."""
    missing = [name for name in NEEDED if name not in base.params]
    if missing:
        raise ArchError([Diagnostic(
            Severity.ERROR, f"`{spec}` has no header parameter{'s' if len(missing) > 1 else ''} "
                     f"{', '.join(f'`{m}`' for m in missing)} to scale", None,
            help="declare them: `network name(depth = 1.0, width = 1.0, res = 224)` and use them "
                 "in repeats, channels and `input (res)x(res)x3`", code="usage")])
    if not sum(n.mults for n in base.layers):
        raise ArchError([Diagnostic(Severity.ERROR, f"`{spec}` has no multiplies to scale", None,
                                    help="compound scaling trades multiplies; add convolutions or `fc` layers",
                                    code="usage")])
    steps = []
    for phi in range(phi_max + 1):
        depth, width = base.params["depth"] * alpha ** phi, base.params["width"] * beta ** phi
        try:
            res = int(round(base.params["res"] * gamma ** phi))
        except (OverflowError, ValueError):
            raise ArchError([Diagnostic(Severity.ERROR, f"the resolution at phi={phi} is not a finite number",
                                        None, code="usage")]) from None
        scaled = {"depth": depth, "width": width, "res": res}
        same = all(scaled[k] == base.params[k] for k in NEEDED)
        graph = base if same else load_file(spec, {**(params or {}), **scaled}, input_shape, variant)
        steps.append(Step(phi, depth, width, res, sum(n.params for n in graph.layers),
                          sum(n.mults for n in graph.layers if n.runs == Runs.ALWAYS)))  # eval multiplies
    return steps

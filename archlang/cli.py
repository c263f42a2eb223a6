"""The ``archlang`` command. Exit status: 0 ok, 1 errors in a spec, 2 usage or file problems.

``check`` and ``render`` never import torch; ``compile`` does, when it runs."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import ArchError, print_diagnostics

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


def _number(text: str) -> float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _define(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got `{text}`")
    try:
        return name.strip(), _number(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{value}` is not a number") from None


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxWxC or N, got `{text}`") from None
    if len(dims) not in (1, 3) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected HxWxC or N with positive sizes, got `{text}`")
    return dims


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the .arch spec")
    p.add_argument("-D", dest="defines", action="append", type=_define, default=[], metavar="NAME=VALUE",
                   help="override a header parameter (repeatable)")
    p.add_argument("--input", type=_shape, metavar="HxWxC", help="replace the spec's input shape")


def parser() -> argparse.ArgumentParser:
    from . import __version__

    top = argparse.ArgumentParser(prog="archlang", description="Architecture compiler and shape checker "
                                  "for convolutional networks.")
    top.add_argument("--version", action="version", version=f"archlang {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="print every layer's shape, parameters and multiplies")
    _common(check)
    check.add_argument("--format", choices=("table", "json", "markdown", "csv"), default="table")
    check.add_argument("--depth", type=int, metavar="N", help="fold block instances deeper than N")
    check.add_argument("--width", type=int, metavar="COLUMNS", help="table width (default: the terminal's)")

    comp = sub.add_parser("compile", help="generate a PyTorch model")
    _common(comp)
    comp.add_argument("-o", "--output", metavar="model.py", help="write the source here (default: print it)")
    comp.add_argument("--verify", action="store_true", help="build the model, run a batch, compare with the analysis")
    comp.add_argument("--device", default="cpu", help="device for --verify (cpu, cuda, ...)")
    comp.add_argument("--weights", metavar="CKPT", help="copy a state dict into the model by order and shape")
    comp.add_argument("--skip", action="append", default=[], metavar="PREFIX",
                      help="with --weights: leave modules with this name prefix fresh (repeatable)")
    comp.add_argument("--save", metavar="model.pt", help="save the compiled model with its weights")

    rend = sub.add_parser("render", help="draw the network with Graphviz")
    _common(rend)
    rend.add_argument("-o", "--output", required=True, metavar="OUT", help="out.svg, .png, .pdf or .dot")
    rend.add_argument("--depth", type=int, metavar="N", help="fold block instances deeper than N into one node")
    rend.add_argument("--direction", choices=("TB", "LR"), default="TB")

    scale = sub.add_parser("scale", help="EfficientNet compound scaling of a spec with depth, width and res")
    _common(scale)
    scale.add_argument("--phi", type=int, required=True, help="largest compound coefficient")
    scale.add_argument("--alpha", type=float, default=1.2, help="depth base (default 1.2)")
    scale.add_argument("--beta", type=float, default=1.1, help="width base (default 1.1)")
    scale.add_argument("--gamma", type=float, default=1.15, help="resolution base (default 1.15)")

    sub.add_parser("ops", help="list the ops and what they take")
    return top


def cmd_check(args: argparse.Namespace) -> int:
    from .api import load_file
    from .formats import write
    from .report import Report

    graph = load_file(args.file, dict(args.defines), args.input)
    print_diagnostics(graph.warnings, graph.sources)
    report = Report.of(graph)
    if args.depth is not None:
        report = report.fold(args.depth)
    write(report, args.format, sys.stdout, color=sys.stdout.isatty(), width=args.width)
    return EXIT_OK


def cmd_ops(args: argparse.Namespace) -> int:
    from .ops import ALIASES, REGISTRY

    for name, op in sorted(REGISTRY.items()):
        sig = op.signature
        parts = [a.attr for a in sig.positional] + [f"{k}N" for k in sig.flags] + sorted(sig.words) + [
            f"{k}=" for k in sig.keywords]
        aliases = [a for a, target in ALIASES.items() if target == name]
        also = f" (also {', '.join(aliases)})" if aliases else ""
        print(f"{name:16} {' '.join(parts):50} {op.doc}{also}")
    print(f"{'identity':16} {'':50} the input, unchanged (no layer)")
    return EXIT_OK


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    if name == "check":
        return cmd_check
    if name == "ops":
        return cmd_ops
    if name == "render":
        from .render import cmd_render

        return cmd_render
    if name == "scale":
        from .scaling import cmd_scale

        return cmd_scale
    from .torch_cli import cmd_compile

    return cmd_compile


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return _command(args.command)(args)
    except ArchError as exc:
        print(exc.render(), file=sys.stderr)
        errors = sum(1 for d in exc.diagnostics if d.is_error)
        if errors > 1:
            print(f"{errors} errors", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `archlang check big.arch | head`
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

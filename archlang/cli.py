"""The ``archlang`` command: every subcommand's handler is here, and only here; the stages below
are libraries with no argparse in them. Exit statuses are :class:`~archlang.core.errors.ExitCode`.

``check``, ``render``, ``scale`` and ``ops`` never import torch; ``compile`` does, when it runs."""

from __future__ import annotations

import argparse
import atexit
import gc
import math
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, NoReturn, Sequence

from .core import VERSION
from .core.errors import ArchError, ExitCode, print_diagnostics, printable
from .core.extras import require_torch, torch_installed
from .core.limits import MAX_NUMBER
from .core.shapes import Layout
from .core.terminal import terminal_width, wants_colour
from .emit.dot import DIRECTIONS
from .emit.formats import FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from .core.ir import Graph
    from .emit.build import Compiled


class CommandError(Exception):
    """A problem outside the spec (an option, a file, the environment): printed as
    ``error: ...``, exits with ``status``."""

    def __init__(self, message: str, status: ExitCode = ExitCode.USAGE):
        super().__init__(message)
        self.message, self.status = message, status


# --- argument types ------------------------------------------------------------------------


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
        number = _number(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"`{value}` is not a number") from None
    if not math.isfinite(number) or abs(number) > MAX_NUMBER:
        raise argparse.ArgumentTypeError(f"`{value}` is not a finite number of at most {MAX_NUMBER:.0e}")
    return name.strip(), number


def _at_least(least: int) -> Callable[[str], int]:
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got `{text}`") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"expected {least} or more, got {value}")
        return value

    return whole


MAX_PHI = 20  # EfficientNet goes to 7; each step about doubles the multiplies


def _phi(text: str) -> int:
    try:
        phi = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got `{text}`") from None
    if not 0 <= phi <= MAX_PHI:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_PHI}, got {phi}")
    return phi


def _base(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got `{text}`") from None
    if not (math.isfinite(value) and 0 < value <= 10):
        raise argparse.ArgumentTypeError(f"expected a number above 0 and at most 10, got `{text}`")
    return value


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxWxC or N, got `{text}`") from None
    if len(dims) not in (1, 3) or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected HxWxC or N with positive sizes, got `{text}`")
    return dims


# --- the parser ----------------------------------------------------------------------------


# Shell completion (shtab) names files by these tags; shtab itself is imported only to print a script.
FILES = {"bash": "_shtab_compgen_files", "zsh": "_files"}
SHELLS = ("bash", "zsh")

EXAMPLES: dict[str, list[str]] = {
    "check": ["archlang check specs/resnet.arch -D depth=18",
              "archlang check specs/resnet.arch --depth 0 --layout nchw",
              "archlang check specs/vgg.arch --format json > vgg.json"],
    "compile": ["archlang compile specs/resnet.arch -o resnet.py",
                "archlang compile specs/resnet.arch --verify --save resnet.pt",
                "archlang compile specs/lenet5.arch --onnx lenet5.onnx"],
    "render": ["archlang render specs/inception_module.arch -o inception.svg",
               "archlang render specs/resnet.arch --depth 0 --direction LR -o resnet.png"],
    "scale": ["archlang scale specs/efficientnet.arch --phi 3"],
    "ops": ["archlang ops"],
    "sizes": ["archlang sizes specs/resnet.arch -D depth=50 --upto 4096",
              "archlang sizes specs/tiny_unet.arch --format json"],
    "diff": ["archlang diff specs/resnet.arch specs/resnet.arch --da depth=18 --db depth=34",
             "archlang diff a.arch b.arch --exit-code"],
    "import": ["archlang import torchvision.models:resnet50 --input 3x224x224 -o resnet50.arch"],
    "fmt": ["archlang fmt specs/*.arch", "archlang fmt --check specs/resnet.arch"],
    "lsp": ["archlang lsp"],
}


def _epilog(command: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the .arch spec").complete = FILES  # type: ignore[attr-defined]
    p.add_argument("-D", dest="defines", action="append", type=_define, default=[], metavar="NAME=VALUE",
                   help="override a header parameter (repeatable)")
    p.add_argument("--input", type=_shape, metavar="HxWxC", help="replace the spec's input shape")
    p.add_argument("-V", "--variant", metavar="NAME",
                   help="use the values of `variant NAME(...)` (then -D overrides single values)"
                        + ("; `all` checks every variant" if p.prog.endswith("check") else ""))


class _PrintCompletion(argparse.Action):
    """``--print-completion bash|zsh``: the completion script shtab writes from this parser."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        import shtab

        sys.stdout.write(shtab.complete(parser, shell=str(values)))
        parser.exit()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="archlang", description="Architecture compiler and shape checker "
                                  "for convolutional networks.", formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog="examples:\n  archlang check specs/resnet.arch\n  archlang COMMAND --help\n"
                                  "  source <(archlang --print-completion bash)")
    top.add_argument("--version", action="version", version=f"archlang {VERSION}")
    top.add_argument("--print-completion", choices=SHELLS, action=_PrintCompletion, metavar="{bash,zsh}",
                     help="print a shell completion script")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, **kwargs: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, epilog=_epilog(name),
                              formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)

    check = command("check", "print every layer's shape, parameters and multiplies")
    _common(check)
    check.add_argument("--format", choices=[str(f) for f in FORMATS], default=str(FORMATS[0]))
    check.add_argument("--depth", type=_at_least(0), metavar="N", help="fold block instances deeper than N")
    check.add_argument("--width", type=_at_least(1), metavar="COLUMNS", help="table width (default: the terminal's)")
    check.add_argument("--layout", choices=[str(x) for x in Layout], default=str(Layout.HWC),
                       help="shapes as HxWxC (112x112x64) or as PyTorch prints them ([1, 64, 112, 112])")
    check.add_argument("--watch", action="store_true", help="check again each time the file is saved")
    check.add_argument("--rf", action="store_true", help="add each layer's receptive field (always in JSON)")
    check.add_argument("--count", choices=("macs", "flops", "fvcore", "thop", "ptflops"),
                       help="add each layer's operations under this counting convention")
    check.add_argument("--batch", type=_at_least(1), default=1, metavar="N",
                       help="batch size for the training-memory estimate (default 1)")

    comp = command("compile", "generate a PyTorch model")
    _common(comp)
    comp.add_argument("-o", "--output", metavar="model.py", help="write the source here (default: print it)")
    comp.add_argument("--verify", action="store_true", help="build the model, run a batch, compare with the analysis")
    comp.add_argument("--device", default="cpu", help="device for --verify (cpu, cuda, ...)")
    comp.add_argument("--weights", metavar="CKPT", help="copy a state dict into the model by order and shape"
                      ).complete = FILES  # type: ignore[attr-defined]
    comp.add_argument("--weights-by", choices=("order", "name"), default="order",
                      help="with --weights: pair tensors by registration order and shape (default), or by "
                           "the layers' dotted names and labels")
    comp.add_argument("--skip", action="append", default=[], metavar="PREFIX",
                      help="with --weights: leave modules with this name prefix fresh (repeatable)")
    comp.add_argument("--strict", action="store_true",
                      help="with --weights: exit 1 unless every tensor is filled and every checkpoint tensor used")
    comp.add_argument("--save", metavar="model.pt", help="save the compiled model with its weights")
    comp.add_argument("--onnx", metavar="model.onnx", help="export the model (weights included) to ONNX, "
                      "with a dynamic batch axis")

    rend = command("render", "draw the network with Graphviz")
    _common(rend)
    rend.add_argument("-o", "--output", required=True, metavar="OUT", help="out.svg, .png, .pdf or .dot")
    rend.add_argument("--depth", type=_at_least(0), metavar="N", help="fold block instances deeper than N into one node")
    rend.add_argument("--direction", choices=DIRECTIONS, default=DIRECTIONS[0])

    scale = command("scale", "EfficientNet compound scaling of a spec with depth, width and res")
    _common(scale)
    scale.add_argument("--phi", type=_phi, required=True, help=f"largest compound coefficient (0 to {MAX_PHI})")
    scale.add_argument("--alpha", type=_base, default=1.2, help="depth base (default 1.2)")
    scale.add_argument("--beta", type=_base, default=1.1, help="width base (default 1.1)")
    scale.add_argument("--gamma", type=_base, default=1.15, help="resolution base (default 1.15)")

    sizes = command("sizes", "the input heights and widths the spec accepts")
    sizes.add_argument("file", help="the .arch spec").complete = FILES  # type: ignore[attr-defined]
    sizes.add_argument("-V", "--variant", metavar="NAME", help="use the values of `variant NAME(...)`")
    sizes.add_argument("-D", dest="defines", action="append", type=_define, default=[], metavar="NAME=VALUE",
                       help="override a header parameter (repeatable)")
    sizes.add_argument("--upto", type=_at_least(1), default=1024, metavar="N", help="largest size listed (default 1024)")
    sizes.add_argument("--format", choices=("table", "json"), default="table")

    diff = command("diff", "compare two specs layer by layer")
    diff.add_argument("a", help="the first .arch spec").complete = FILES  # type: ignore[attr-defined]
    diff.add_argument("b", help="the second .arch spec").complete = FILES  # type: ignore[attr-defined]
    diff.add_argument("-V", "--variant", metavar="NAME", help="use `variant NAME(...)` in both specs")
    diff.add_argument("--va", metavar="NAME", help="the variant of the first spec (instead of -V)")
    diff.add_argument("--vb", metavar="NAME", help="the variant of the second spec (instead of -V)")
    diff.add_argument("-D", dest="defines", action="append", type=_define, default=[], metavar="NAME=VALUE",
                      help="override a header parameter in both specs (repeatable)")
    diff.add_argument("--da", action="append", type=_define, default=[], metavar="NAME=VALUE",
                      help="override a header parameter in the first spec only")
    diff.add_argument("--db", action="append", type=_define, default=[], metavar="NAME=VALUE",
                      help="override a header parameter in the second spec only")
    diff.add_argument("--format", choices=("table", "json"), default="table")
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when the specs differ")

    command("ops", "list the ops and what they take")

    imp = command("import", "write the spec of a PyTorch model (runs the model's own code)",
                  description="Trace MODULE:CALLABLE with torch.fx and write it as a spec. This imports "
                  "and runs that Python code.")
    imp.add_argument("target", metavar="MODULE:CALLABLE", help="a module instance, or a callable returning one")
    imp.add_argument("--input", metavar="CxHxW", help="the input, CxHxW or HxWxC (default 3x224x224)")
    imp.add_argument("-o", "--output", metavar="spec.arch", help="write the spec here (default: print it)")

    fmt = command("fmt", "rewrite specs in the canonical layout")
    fmt.add_argument("files", nargs="+", metavar="FILE", help="the .arch specs (`-`: standard input to standard output)"
                     ).complete = FILES  # type: ignore[attr-defined]
    fmt.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 when a file is not formatted (for pre-commit and CI)")
    command("lsp", "run the language server (Language Server Protocol over standard input/output)")
    return top


# --- shared steps ----------------------------------------------------------------------------


@contextmanager
def _heap_frozen_after() -> Iterator[None]:
    """A command keeps the analysed spec to its end: the cyclic collector, paused while the spec
    is analysed, then leaves those objects alone (`gc.freeze`) instead of walking them again and
    again while the report is built (a third of the time at 50,000 layers, and superlinear)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _load(args: argparse.Namespace) -> Graph:
    """The spec analysed with the command line's parameters and input; its warnings printed."""
    from .api import load_file

    from .analyses.lints import lint

    if getattr(args, "variant", None) == ALL_VARIANTS and args.command != "check":
        raise CommandError(f"`-V {ALL_VARIANTS}` is for `archlang check`; `{args.command}` takes one variant")
    with _heap_frozen_after():
        graph = load_file(args.file, dict(args.defines), args.input, getattr(args, "variant", None))
    graph.warnings += [w for w in lint(graph) if w not in graph.warnings]
    print_diagnostics(graph.warnings, graph.sources)
    return graph


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)).lower()
    return str(exc)


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """Turn a failure to write ``path`` into ``cannot write `path`: reason`` (exit 2)."""
    from .emit.dot import DotMissing

    try:
        yield
    except DotMissing:
        raise
    except (OSError, RuntimeError) as exc:
        raise CommandError(f"cannot write `{path}`: {_reason(exc)}") from None
    print(f"wrote {printable(str(path))}", file=sys.stderr)


# --- commands --------------------------------------------------------------------------------


ALL_VARIANTS = "all"


def cmd_check(args: argparse.Namespace) -> ExitCode:
    if args.watch:
        return _watch(argparse.Namespace(**{**vars(args), "watch": False}))
    from .analyses.enrich import enrich
    from .emit.formats import write
    from .report import Report

    if args.variant == ALL_VARIANTS:
        return _check_variants(args)
    # receptive fields are computed only when shown: `--rf`, or JSON, whose rows carry them
    report = enrich(Report.of(_load(args), args.variant), fields=args.rf or args.format == "json",
                    count=args.count, batch=args.batch, columns=args.rf)
    if args.depth is not None:
        report = report.fold(args.depth)
    write(report, args.format, sys.stdout, color=wants_colour(sys.stdout),
          width=args.width or terminal_width(sys.stdout), layout=Layout(args.layout))
    return ExitCode.OK


def _check_variants(args: argparse.Namespace) -> ExitCode:
    """``check -V all``: every variant analysed; a summary row each, or every variant's errors."""
    from .api import analyse, read_file, variant_names
    from .emit.formats import variant_summary
    from .report import Report

    text, file = read_file(args.file)
    names = variant_names(text, file)
    if not names:
        raise CommandError(f"`{args.file}` has no `variant` statements to check with `-V {ALL_VARIANTS}`")
    reports: list[Report] = []
    failed: list[tuple[str, ArchError]] = []
    warned: dict[str, Graph] = {}
    for name in names:
        try:
            graph = analyse(text, file, dict(args.defines), args.input, name)
        except ArchError as exc:
            failed.append((name, exc))
            continue
        warned[name] = graph
        reports.append(Report.of(graph, name))
    _print_variant_warnings(warned)
    if failed:
        for name, exc in failed:
            print(f"variant `{name}`:", file=sys.stderr)
            print(exc.render(), file=sys.stderr)
        status = max(int(exc.exit_status) for _, exc in failed)
        print(f"{len(failed)} of {len(names)} variants have errors", file=sys.stderr)
        return ExitCode(status)
    sys.stdout.write(variant_summary(reports, args.format, color=wants_colour(sys.stdout),
                                     width=args.width or terminal_width(sys.stdout)))
    return ExitCode.OK


def _print_variant_warnings(graphs: dict[str, Graph]) -> None:
    """A warning every variant gives is printed once; the others under `variant NAME:`."""
    if not graphs:
        return
    shared = [w for w in next(iter(graphs.values())).warnings if all(w in g.warnings for g in graphs.values())]
    if shared:
        print_diagnostics(shared, next(iter(graphs.values())).sources)
    for name, graph in graphs.items():
        own = [w for w in graph.warnings if w not in shared]
        if own:
            print(f"variant `{name}`:", file=sys.stderr)
            print_diagnostics(own, graph.sources)


def cmd_sizes(args: argparse.Namespace) -> ExitCode:
    import json

    from .analyses import sizes
    from .api import load_file

    params = dict(args.defines)
    graph = _load(argparse.Namespace(file=args.file, defines=args.defines, input=None, variant=args.variant,
                                     command="sizes"))
    found = sizes.report(graph, args.upto, lambda shape: load_file(args.file, params, shape, args.variant))
    if args.format == "json":
        doc = {axis: {"rule": r.rule, "values": r.values} for axis, r in found.items()}
        print(json.dumps(doc, indent=2))
        return ExitCode.OK
    print(printable(f"{graph.name} ({graph.file}): input {'x'.join(map(str, graph.input.shape or ()))}, "
                    f"sizes 1 to {args.upto}"))
    for axis, r in found.items():
        other = "width" if axis == "height" else "height"
        print(f"{axis}: {r.rule}  ({len(r.values)} sizes, {other} held at the spec's)")
        shown = ", ".join(map(str, r.values[:12])) + (", ..." if len(r.values) > 12 else "")
        print(f"  {shown or 'none'}")
    return ExitCode.OK


def cmd_diff(args: argparse.Namespace) -> ExitCode:
    from .analyses import diff

    both = dict(args.defines)
    a = diff.side(args.a, {**both, **dict(args.da)}, args.va or args.variant)
    b = diff.side(args.b, {**both, **dict(args.db)}, args.vb or args.variant)
    result = diff.compare(a, b)
    print(diff.render(result, args.format), end="")
    return ExitCode.SPEC if args.exit_code and result.differs else ExitCode.OK  # 1 as `git diff --exit-code`


def cmd_ops(args: argparse.Namespace) -> ExitCode:
    from .emit.table import Column, Table, render
    from .ops import ALIASES, REGISTRY

    table = Table([Column("Op"), Column("Takes", shrink=True), Column("Does", shrink=True)])
    for name, op in sorted(REGISTRY.items()):
        sig = op.signature
        parts = [a.attr for a in sig.positional] + [f"{k}N" for k in sig.flags] + sorted(sig.words) + [
            f"{k}=" for k in sig.keywords]
        aliases = [a for a, target in ALIASES.items() if target == name]
        also = f" (also {', '.join(aliases)})" if aliases else ""
        table.add(name, " ".join(parts), op.doc + also)
    table.add("identity", "", "the input, unchanged (no layer)")
    render(table, sys.stdout, color=wants_colour(sys.stdout), width=terminal_width(sys.stdout))
    return ExitCode.OK


def cmd_render(args: argparse.Namespace) -> ExitCode:
    from .core.atomic import write_atomically
    from .emit.dot import FORMATS as DIAGRAMS
    from .emit.dot import INSTALL_HINT, DotMissing, render_image, to_dot

    base, ext = os.path.splitext(args.output)
    ext = ext.lower().lstrip(".")
    if ext not in DIAGRAMS:
        raise CommandError(f"cannot tell the format of `{args.output}`: use .svg, .png, .pdf or .dot")
    graph = _load(args)
    source = to_dot(graph, args.depth, args.direction)
    try:
        with _writing(args.output):
            data = source if ext == "dot" else render_image(source, ext)
            write_atomically(args.output, data, inputs=_inputs(graph, args))
    except DotMissing:
        _write_fallback(args.output, base + ".dot", ext, source, _inputs(graph, args), INSTALL_HINT)
    return ExitCode.OK


def _write_fallback(output: str, fallback: str, ext: str, source: str, inputs: list[str], hint: str) -> None:
    """Without Graphviz, write the DOT source beside the image asked for, never over a file
    that is already there (the user did not name it); always ends with a :class:`CommandError`."""
    from .core.atomic import write_atomically

    message = f"cannot write `{output}`: {hint}."
    if os.path.lexists(fallback):
        raise CommandError(f"{message}\n`{fallback}` already exists and was left as it is")
    try:
        write_atomically(fallback, source, inputs=inputs)
    except OSError as exc:
        raise CommandError(f"{message}\ncannot write `{fallback}` either: {_reason(exc)}") from None
    raise CommandError(f"{message}\nwrote {fallback} instead; `dot -T{ext} {fallback} -o {output}` makes the image")


def _inputs(graph: Graph, args: argparse.Namespace) -> list[str]:
    """Every file the command read: the spec, the files it `use`s, the checkpoint."""
    return [args.file, *graph.sources, *([args.weights] if getattr(args, "weights", None) else [])]


def cmd_scale(args: argparse.Namespace) -> ExitCode:
    from .emit.formats import scaling_table
    from .scaling import compound_from

    steps = compound_from(_load(args), args.file, args.phi, args.alpha, args.beta, args.gamma,
                          dict(args.defines), args.input, args.variant)
    sys.stdout.write(scaling_table(steps, args.alpha, args.beta, args.gamma))
    return ExitCode.OK


def cmd_compile(args: argparse.Namespace) -> ExitCode:
    needs_model = args.verify or args.weights or args.save or args.onnx
    if needs_model or not torch_installed():  # the source alone is generated without importing torch
        require_torch("compile")
    from .core.atomic import write_atomically

    if args.weights and os.path.exists(args.weights) and not os.path.isfile(args.weights):
        # checked before torch loads: a FIFO would block the read, a device never end it
        raise CommandError(f"cannot read weights from `{args.weights}`: it is not a regular file")
    if (args.skip or args.strict) and not args.weights:
        raise CommandError(f"`{'--skip' if args.skip else '--strict'}` applies to `--weights`, which is not given")
    graph = _load(args)
    status = ExitCode.OK
    if needs_model:
        from .emit.build import compile_graph

        compiled = compile_graph(graph)
        source = compiled.source
        status = _run_model(compiled, args)
    else:
        from .emit.codegen import generate

        source = generate(graph)
    if args.output:
        with _writing(args.output):
            write_atomically(args.output, source, inputs=_inputs(graph, args))
    elif not (args.verify or args.save or args.onnx):
        sys.stdout.write(source)
    return status


def _run_model(compiled: Compiled, args: argparse.Namespace) -> ExitCode:
    """Build the model once; copy weights into it, verify it and save it: the same object."""
    import torch

    from .emit.build import verify_model
    from .emit.weights import load_weights, matches_nothing, save_model

    if args.verify:
        try:
            torch.device(args.device)
        except (RuntimeError, ValueError, TypeError):
            raise CommandError(f"`--device {args.device}` is not a device PyTorch knows\n"
                               "help: write `cpu`, `cuda`, `cuda:1`, `mps`, ...") from None
    if args.verify and args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CommandError("`--device cuda` but PyTorch sees no CUDA device")
    try:
        model = compiled.instantiate()
        if args.weights:
            try:
                report = load_weights(model, args.weights, skip=args.skip, by=args.weights_by)
            except (OSError, RuntimeError, TypeError, ValueError) as exc:
                raise CommandError(f"cannot read weights from `{args.weights}`: {_reason(exc)}") from None
            print(report.summary(), file=sys.stderr)
            for prefix in matches_nothing(args.skip, model.state_dict()):
                print(f"warning: `--skip {prefix}` matches no module of the model", file=sys.stderr)
            if args.strict and not report.complete:
                raise CommandError("`--strict`: the checkpoint does not fill the model exactly; nothing was saved",
                                   ExitCode.SPEC)
            if not args.save:
                print("note: the loaded weights were not saved: add `--save model.pt` to keep them", file=sys.stderr)
        status = ExitCode.OK
        if args.verify:
            result = verify_model(compiled, model, args.device)
            print(result.summary(), file=sys.stdout if result.ok else sys.stderr)
            status = ExitCode.OK if result.ok else ExitCode.MISMATCH
    except (RuntimeError, MemoryError, OverflowError) as exc:  # e.g. a layer too large to allocate
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(f"PyTorch could not build or run the model: {first}", ExitCode.SPEC) from None
    if args.save:
        try:
            save_model(model, args.save, inputs=_inputs(compiled.graph, args))
        except OSError as exc:
            raise CommandError(f"cannot write `{args.save}`: {_reason(exc)}") from None
        print(f"saved {printable(str(args.save))}", file=sys.stderr)
    if args.onnx:
        _export_onnx(model, args.onnx)
    return status


# --- editor tooling: fmt, lsp, check --watch (the optional packages of the `lsp` extra load lazily) ---


def cmd_fmt(args: argparse.Namespace) -> ExitCode:
    from .api import read_file
    from .core.atomic import write_atomically
    from .tooling.formatter import FormatError, format_text

    status, changed, unchanged = ExitCode.OK, 0, 0
    for name in args.files:
        try:
            text, file = read_file(name)
            result = format_text(text, file)
        except ArchError as exc:
            print(exc.render(), file=sys.stderr)
            status = max(status, exc.exit_status)
            continue
        except FormatError as exc:
            print_diagnostics(exc.diagnostics, exc.sources)
            print(f"error: cannot format `{name}`: {exc}", file=sys.stderr)
            status = max(status, ExitCode.SPEC)
            continue
        if name == "-":
            if not args.check:
                sys.stdout.write(result)
            elif result != text:
                print("<stdin> is not formatted", file=sys.stderr)
                status = max(status, ExitCode.SPEC)
        elif result == text:
            unchanged += 1
        elif args.check:
            changed += 1
            print(f"would reformat {printable(str(file))}", file=sys.stderr)
            status = max(status, ExitCode.SPEC)
        else:
            try:
                with _writing(file):
                    write_atomically(file, result)
            except CommandError as exc:
                print(f"error: {exc.message}", file=sys.stderr)
                status = max(status, exc.status)
                continue
            changed += 1
            print(f"reformatted {printable(str(file))}", file=sys.stderr)
    if changed or unchanged:
        verb = "would be reformatted" if args.check else "reformatted"
        print(f"{changed} file{'s' * (changed != 1)} {verb}, {unchanged} already formatted", file=sys.stderr)
    return status


def cmd_lsp(args: argparse.Namespace) -> ExitCode:
    from .tooling import missing_extra

    try:
        from .tooling.server import serve
    except ImportError as exc:
        raise CommandError(missing_extra((exc.name or "pygls").split(".")[0])) from None
    serve()
    return ExitCode.OK


def _watch(args: argparse.Namespace) -> ExitCode:
    from .tooling import missing_extra
    from .tooling.watch import run_watch

    try:
        import watchfiles
    except ImportError:
        raise CommandError(missing_extra("watchfiles")) from None

    def check_once(a: argparse.Namespace) -> int:
        try:
            return int(COMMANDS["check"](a))
        finally:
            gc.unfreeze()  # the last check's spec is garbage now: let the collector have it back

    return ExitCode(run_watch(args, check_once, watchfiles))


def _export_onnx(model: object, path: str) -> None:
    from .emit.onnx import OnnxExportError, export_onnx

    try:
        export_onnx(model, path)  # type: ignore[arg-type]
    except OnnxExportError as exc:
        raise CommandError(f"cannot export to ONNX: {exc}", ExitCode.SPEC) from None
    except OSError as exc:
        raise CommandError(f"cannot write `{path}`: {_reason(exc)}") from None
    print(f"exported {printable(str(path))}", file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> ExitCode:
    """Trace ``MODULE:CALLABLE`` (running the user's own code, by design) and write its spec."""
    require_torch("import")
    from .core.atomic import write_atomically
    from .importer import from_torch
    from .importer.target import load_target, parse_input

    shape = parse_input(args.input) if args.input else (3, 224, 224)
    model = load_target(args.target)
    text = from_torch(model, shape, name=args.target.partition(":")[2].rsplit(".", 1)[-1], source=args.target)
    if not args.output:
        sys.stdout.write(text)
        return ExitCode.OK
    with _writing(args.output):
        write_atomically(args.output, text)
    return ExitCode.OK

COMMANDS: dict[str, Callable[[argparse.Namespace], ExitCode]] = {
    "check": cmd_check, "compile": cmd_compile, "render": cmd_render, "scale": cmd_scale, "ops": cmd_ops,
    "sizes": cmd_sizes, "diff": cmd_diff,
    "fmt": cmd_fmt, "lsp": cmd_lsp, "import": cmd_import,
}


def json_diagnostics(exc: ArchError) -> None:
    """``check --format json`` on a spec with errors: a document with the diagnostics alone."""
    import json

    json.dump({"diagnostics": [d.as_dict() for d in exc.diagnostics]}, sys.stdout, indent=2)
    sys.stdout.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    _escape_unencodable_output()
    args = parser().parse_args(argv)
    try:
        status = int(COMMANDS[args.command](args))
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
        return status
    except ArchError as exc:
        if getattr(args, "format", None) == "json":  # tools read the diagnostics from standard output
            json_diagnostics(exc)
        colour = wants_colour(sys.stderr)
        rendered = exc.render(colour)
        if colour:  # Pygments (the `lsp` extra) is imported only to colour a person's excerpts
            from .tooling.colour import colour_excerpts

            rendered = colour_excerpts(rendered)
        print(rendered, file=sys.stderr)
        errors = sum(1 for d in exc.diagnostics if d.is_error)
        if errors > 1:
            print(f"{errors} errors", file=sys.stderr)
        return int(exc.exit_status)
    except CommandError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.status)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `archlang check big.arch | head`
        _silence_stdout()
        return int(ExitCode.OK)
    except OSError as exc:  # standard output on a full disk, a closed descriptor
        _silence_stdout()
        print(f"error: cannot write the output: {_reason(exc)}", file=sys.stderr)
        return int(ExitCode.USAGE)


def _escape_unencodable_output() -> None:
    """File names that are not UTF-8 (undecodable bytes) are printed escaped, not as a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def _silence_stdout() -> None:
    """Point standard output at nothing, so that flushing it again at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``archlang`` program (the console script, ``python -m archlang``): :func:`main`, then an
    exit that leaves the interpreter's teardown out. Freeing every module and object one by one
    at exit is a tenth of `check`'s time on a small spec and grows with the spec; the operating
    system frees the process at once. Everything a normal exit does for others still happens:
    the standard streams are flushed and the ``atexit`` handlers run (logging, temporary folders).
    Where another thread still runs, or the streams cannot be flushed, the exit is the usual one."""
    status = main(argv)
    if _single_threaded() and _flushed():
        run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
        if run_exit_handlers is not None:
            run_exit_handlers()
            _flushed()  # what the handlers printed
            os._exit(status)
    sys.exit(status)


def _single_threaded() -> bool:
    threading = sys.modules.get("threading")  # never imported: one thread
    return threading is None or threading.active_count() == 1


def _flushed() -> bool:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        return True
    except (OSError, ValueError, AttributeError):
        return False


if __name__ == "__main__":  # pragma: no cover
    run()

"""``archlang compile``: print or write the generated model, verify it, copy weights, save it."""

from __future__ import annotations

import argparse
import sys

from .api import load_file
from .atomic import write_atomically
from .codegen import generate
from .errors import print_diagnostics


def cmd_compile(args: argparse.Namespace) -> int:
    graph = load_file(args.file, dict(args.defines), args.input)
    print_diagnostics(graph.warnings, graph.sources)
    source = generate(graph)
    status = 0
    try:
        if args.verify:
            status = _verify(graph, args.device)
        if args.weights or args.save:
            status = status or _weights_and_save(graph, args)
    except (RuntimeError, MemoryError, OverflowError) as exc:  # e.g. a layer too large to allocate
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: PyTorch could not build or run the model: {first}", file=sys.stderr)
        return 1
    if args.output:
        try:
            write_atomically(args.output, source)
        except OSError as exc:
            print(f"error: cannot write `{args.output}`: {(exc.strerror or str(exc)).lower()}", file=sys.stderr)
            return 2
        print(f"wrote {args.output}", file=sys.stderr)
    elif not (args.verify or args.save):
        sys.stdout.write(source)
    return status


def _verify(graph, device: str) -> int:
    import torch

    from .torch_backend import verify

    if device.startswith("cuda") and not torch.cuda.is_available():
        print("error: `--device cuda` but PyTorch sees no CUDA device", file=sys.stderr)
        return 2
    result = verify(graph, device)
    print(result.summary(), file=sys.stderr if not result.ok else sys.stdout)
    return 0 if result.ok else 3


def _weights_and_save(graph, args: argparse.Namespace) -> int:
    from .torch_backend import build_module
    from .weights import load_weights, save_model

    model = build_module(graph)
    if args.weights:
        try:
            report = load_weights(model, args.weights, skip=args.skip)
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            print(f"error: cannot read weights from `{args.weights}`: {exc}", file=sys.stderr)
            return 2
        print(report.summary(), file=sys.stderr)
    if args.save:
        try:
            save_model(model, args.save)
        except OSError as exc:
            print(f"error: cannot write `{args.save}`: {(exc.strerror or str(exc)).lower()}", file=sys.stderr)
            return 2
        print(f"saved {args.save}", file=sys.stderr)
    return 0

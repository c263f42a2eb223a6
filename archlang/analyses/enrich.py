"""What the commands ask of the analyses, added to a report: receptive-field figures per row,
operation counts under a convention, the training-memory totals and summary lines."""

from __future__ import annotations

from ..core.records import replace
from typing import TYPE_CHECKING, Any

from ..core.ir import Graph
from ..emit.formats import human_bytes as _human_bytes
from ..report import Report
from . import counting, memory

if TYPE_CHECKING:  # pragma: no cover
    from . import rf


def enrich(report: Report, *, fields: bool = False, count: str | None = None, batch: int = 1,
           columns: bool = False) -> Report:
    """``report`` (unfolded) with the analyses asked for: ``fields`` adds ``rf``, ``rf_stride``
    and ``global_context`` to every row; ``count`` adds ``ops`` under that convention;
    training memory at ``batch`` is always added to the totals and the summary (one linear pass).
    ``columns``: show the added figures as table columns too."""
    graph = report.graph
    assert graph is not None, "enrich needs the report's graph"
    nodes = graph.layers
    extras: list[dict[str, Any]] = [dict(r.extra) for r in report.rows] if fields or count is not None else []
    out = replace(report, extra_totals=dict(report.extra_totals), columns=list(report.columns),
                  summary=list(report.summary))
    if fields:
        from . import rf  # only for `--rf` and JSON: it brings `fractions` and `decimal`

        found = rf.receptive_fields(graph)
        for extra, node in zip(extras, nodes):
            f = found[node.index]
            extra["rf"] = list(f.rf) if f.rf else None
            extra["rf_stride"] = [rf.stride_value(s) for s in f.rf_stride] if f.rf_stride else None
            extra["global_context"] = f.global_context
        if columns:
            out.columns.append(("RF", "rf"))
        out.summary.append(_field_line(graph, found))
    if count is not None:
        ops = counting.count(graph, count)
        for extra, node in zip(extras, nodes):
            extra["ops"] = ops[node.index]
        out.extra_totals["ops"] = {"convention": count, "total": sum(ops[n.index] for n in nodes)}
        out.columns.append((f"Ops ({count})", "ops"))
        out.summary.append(f"ops ({counting.CONVENTIONS[count]}): {out.extra_totals['ops']['total']:,}")
    _add_memory(out, memory.footprint(graph, batch))
    if fields or count is not None:  # rows gain figures only when some were asked for
        out.rows = [replace(r, extra=e) for r, e in zip(report.rows, extras)]
    else:
        out.rows = list(report.rows)
    return out


def _field_line(graph: Graph, found: dict[int, rf.Field]) -> str:
    from . import rf

    last = next((n for n in reversed(graph.layers) if found[n.index].rf), None)
    if last is None:
        return "receptive field: none (no spatial layer)"
    f = found[last.index]
    stride = "x".join(str(rf.stride_value(s)) for s in f.rf_stride)
    after = " (global context after it)" if any(found[n.index].global_context for n in graph.layers[-1:]) else ""
    return f"receptive field: {f.rf[0]}x{f.rf[1]} px at `{last.name}`, stride {stride}{after}"


def _add_memory(report: Report, fp: memory.Footprint) -> None:
    report.extra_totals["train_activation_bytes"] = fp.activation_bytes
    report.extra_totals["training"] = {
        "batch": fp.batch, "activation_bytes": fp.activation_bytes, "param_bytes": fp.param_bytes,
        "grad_bytes": fp.grad_bytes, "sgd_momentum_bytes": fp.sgd_momentum_bytes, "adam_bytes": fp.adam_bytes,
        "sgd_momentum_total_bytes": fp.total(fp.sgd_momentum_bytes), "adam_total_bytes": fp.total(fp.adam_bytes)}
    report.summary += [
        f"training memory at batch {fp.batch} (fp32, PyTorch's CPU kernels, no activation checkpointing):",
        f"  saved for backward {_human_bytes(fp.activation_bytes)}, parameters {_human_bytes(fp.param_bytes)}, "
        f"gradients {_human_bytes(fp.grad_bytes)}",
        f"  with SGD momentum {_human_bytes(fp.total(fp.sgd_momentum_bytes))} "
        f"(state {_human_bytes(fp.sgd_momentum_bytes)}); with Adam {_human_bytes(fp.total(fp.adam_bytes))} "
        f"(state {_human_bytes(fp.adam_bytes)})",
        "  assumes: fp32 throughout; excludes the allocator's caching, workspaces and the loss",
    ]

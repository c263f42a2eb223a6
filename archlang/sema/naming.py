"""Names of layers: the scopes open during elaboration (bindings, block instances, branches),
per-scope op counters, and the source text of a span."""

from __future__ import annotations

from typing import Container

from ..core.errors import Span, source_lines
from ..core.ir import Frame, FrameKind, frame_path


def numbered(name: str, taken: Container[str]) -> str:
    """``name``, or the first of ``name_2``, ``name_3``, ... not yet taken."""
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    return candidate


class Scopes:
    """``layer1.unit2.conv1``: each layer is named by the scopes that hold it and its op's index
    among the layers of that op in its innermost scope. Every name is unique in the graph."""

    def __init__(self) -> None:
        # the open frames, a tuple that every node made meanwhile keeps as it is, and their dotted
        # path: both made once per push or pop instead of once per layer
        self.frames: tuple[Frame, ...] = ()
        self._prefix: str | None = ""
        self.counters: list[dict[str, int]] = [{}]
        self.taken: set[str] = set()
        # every dotted prefix of a taken name, counted: a binding's scope clashes with the layers
        # already named under it in one look-up, not a scan of every name (quadratic in bindings)
        self.prefixes: dict[str, int] = {}

    def path(self, *more: str, labelled: bool = False) -> str:
        """The dotted name of the current scope (plus ``more``). Combinator branches are scopes
        of their own, except around a label: ``concat(cv1: cbs(8), ...)`` names ``cv1``, not
        ``branch1.cv1``, so that labels give the names a checkpoint uses."""
        if labelled:  # the name of a labelled thing: no branch frames at all
            return ".".join([f.name for f in self.frames if f.kind != FrameKind.BRANCH] + list(more))
        if self._prefix is None:
            self._prefix = frame_path(self.frames)
        if not more:
            return self._prefix
        return f"{self._prefix}.{'.'.join(more)}" if self._prefix else ".".join(more)

    @property
    def block_depth(self) -> int:
        return sum(1 for f in self.frames if f.kind == FrameKind.BLOCK)

    def next_name(self, base: str) -> str:
        """``conv3``, or ``relu6_1`` where the op's name ends in a digit."""
        counters = self.counters[-1]
        counters[base] = counters.get(base, 0) + 1
        return f"{base}{'_' if base[-1].isdigit() else ''}{counters[base]}"

    def frame_name(self, name: str) -> str:
        """A binding's scope name: its own, unless a binding of that name already made layers here."""
        clash = self.path(name) in self.prefixes
        return self.next_name(name + "_") if clash else name

    def unique(self, name: str) -> str:
        candidate = numbered(name, self.taken)
        self.taken.add(candidate)
        self._count(candidate, 1)
        return candidate

    def rename(self, old: str, new: str) -> str:
        if old in self.taken:
            self.taken.discard(old)
            self._count(old, -1)
        return self.unique(new)

    def _count(self, name: str, step: int) -> None:
        prefixes = self.prefixes
        end = len(name)
        while end > 0:
            prefix = name[:end]
            left = prefixes.get(prefix, 0) + step
            if left:
                prefixes[prefix] = left
            else:
                del prefixes[prefix]
            end = name.rfind(".", 0, end)

    def push(self, frame: Frame) -> None:
        self.frames, self._prefix = self.frames + (frame,), None
        self.counters.append({})

    def pop(self) -> Frame:
        self.counters.pop()
        frame = self.frames[-1]
        self.frames, self._prefix = self.frames[:-1], None
        return frame


class SourceText:
    """The text of spans, on one line, for tables and diagrams ("the op as written")."""

    def __init__(self, sources: dict[str, str]):
        self.sources = sources
        self._lines: dict[str, list[str]] = {}

    def __call__(self, span: Span) -> str:
        if span.file not in self._lines:
            self._lines[span.file] = source_lines(self.sources.get(span.file, ""))
        lines = self._lines[span.file][span.line - 1:span.end_line]
        if not lines:
            return ""
        if len(lines) == 1:
            lines[0] = lines[0][span.col - 1:span.end_col - 1]
        else:
            lines[0], lines[-1] = lines[0][span.col - 1:], lines[-1][:span.end_col - 1]
        joined = " ".join(line.split("#")[0].strip() for line in lines)
        return " ".join(joined.split())

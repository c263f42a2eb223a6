"""Name scopes of the elaborator, and the two control-flow exceptions it uses."""

from __future__ import annotations

from ..core.records import dataclass, field
from typing import Iterable

from ..lang import syntax as s
from ..core.shapes import Shape

Number = int | float


@dataclass(frozen=True)
class Known:
    """A tensor value during elaboration: the node that computes it and its shape."""

    node: int
    shape: Shape


@dataclass(frozen=True)
class Unknown:
    """A tensor value lost to an error upstream: whatever uses it is not analysed (nor reported)."""


Tensor = Known | Unknown
UNKNOWN = Unknown()


class Poison(Exception):
    """An error was already reported; the value being computed is unknown."""


class Fatal(Exception):
    """Stop elaborating at once (a runaway unroll, a `use` cycle that would recurse)."""


@dataclass
class Env:
    """A file's or a block call's names. Constants and blocks are looked up lexically through
    ``parent`` (the file a block was defined in); tensors are local."""

    file: str
    parent: "Env | None" = None
    in_tensor: Tensor | None = None
    consts: dict[str, Number] = field(default_factory=dict)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    blocks: dict[str, tuple[s.BlockDef, "Env"]] = field(default_factory=dict)
    poisoned: set[str] = field(default_factory=set)
    current: Tensor | None = None

    def _lexical(self) -> "list[Env]":
        """This scope and the ones it sees through: the defining file of a block, and so on."""
        chain: list[Env] = []
        env: Env | None = self
        while env is not None:
            chain.append(env)
            env = env.parent
        return chain

    def const(self, name: str) -> Number | None:
        return next((env.consts[name] for env in self._lexical() if name in env.consts), None)

    def block(self, name: str) -> tuple[s.BlockDef, "Env"] | None:
        return next((env.blocks[name] for env in self._lexical() if name in env.blocks), None)

    def tensor(self, name: str) -> Tensor | None:
        """A tensor by name: this scope's own, or `input` from the file around it."""
        if name in self.tensors:
            return self.tensors[name]
        if name == "input":
            return next((env.tensors["input"] for env in self._lexical() if "input" in env.tensors), None)
        return None

    def is_poisoned(self, name: str) -> bool:
        return any(name in env.poisoned for env in self._lexical())

    def names(self) -> list[str]:
        found: set[str] = set(self.tensors)
        for env in self._lexical():
            found |= set(env.consts) | set(env.blocks)
        return sorted(found)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """A `did you mean` hint, or None."""
    import difflib  # only for a mistake's `help:` line

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None

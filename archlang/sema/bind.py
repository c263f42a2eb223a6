"""Layer arguments, in any order, bound to an op's signature: ``conv 3x3 s2 same x64``
becomes ``{"kernel": (3, 3), "stride": (2, 2), "same": True, "filters": 64, ...}``."""

from __future__ import annotations

import math
from typing import Any

from ..lang import syntax as s
from ..core.errors import Span
from .numbers import NumberEvaluator
from ..ops import Arg, OpDef
from .scope import Env, Known, Poison, suggest

_WORDS = {"same", "valid", "nobias", "ceil"}
_POSITIONAL_HINT = {
    "kernel": "a kernel size, like `3x3`", "features": "the number of outputs, like `fc 10`",
    "size": "an output size, like `6x6`", "scale": "a factor, like `upsample 2`",
    "pad": "a padding, like `zeropad 1`", "groups": "a number of groups", "chunks": "a number of chunks",
    "index": "which chunk to take, from 0",
}


class Binder:
    def __init__(self, numbers: NumberEvaluator):
        self.numbers = numbers

    def fail(self, message: str, span: Span, help: str | None = None) -> Poison:
        return self.numbers.fail(message, span, help)

    def bind(self, op: OpDef, layer: s.Layer, env: Env) -> tuple[dict[str, Any], dict[str, Span]]:
        """The attributes of ``layer`` and, for error messages, where each was written."""
        sig = op.signature
        attrs: dict[str, Any] = {}
        spans: dict[str, Span] = {"op": layer.span}
        for slot in (*sig.positional, *sig.flags.values(), *sig.keywords.values()):
            attrs[slot.attr] = slot.default
        positional: list[s.SizeArg] = []
        words: set[str] = set()
        failed = False
        for arg in layer.args:
            try:
                if isinstance(arg, s.SizeArg):
                    positional.append(arg)
                elif isinstance(arg, s.FlagArg):
                    self._flag(op, arg, env, attrs, spans)
                elif isinstance(arg, s.KeywordArg):
                    self._keyword(op, arg, env, attrs, spans)
                elif arg.word in sig.words:
                    words.add(arg.word)
                    spans[arg.word] = arg.span
                elif env.const(arg.word) is not None or env.is_poisoned(arg.word):
                    positional.append(s.SizeArg((s.Layer(arg.word, (), arg.span, arg.span),), arg.span))
                else:
                    self._unknown_word(op, arg, env)
            except Poison:
                failed = True
        failed |= not self._positional(op, layer, positional, env, attrs, spans)
        if failed:
            raise Poison()
        self._words(op, words, attrs, spans)
        return attrs, spans

    def value(self, slot: Arg, parts: tuple[s.Expr, ...], span: Span, env: Env, what: str) -> Any:
        if slot.kind == "float":
            if len(parts) != 1:
                raise self.fail(f"{what} takes one number", span)
            value = self.numbers.eval(parts[0], env)
            if not math.isfinite(value):
                raise self.fail(f"{what} must be a finite number", span)
            if value < slot.least:
                raise self.fail(f"{what} must be at least {slot.least}, but is {value:g}", span)
            return value
        if len(parts) > (2 if slot.kind == "pair" else 1):
            raise self.fail(f"{what} takes {'one or two sizes (HxW)' if slot.kind == 'pair' else 'one number'}", span)
        values = tuple(self.numbers.whole(p, env, what, int(slot.least)) for p in parts)
        if slot.kind == "pair":
            return values * 2 if len(values) == 1 else values
        return values[0]

    def _flag(self, op: OpDef, arg: s.FlagArg, env: Env, attrs: dict, spans: dict) -> None:
        slot = op.signature.flags.get(arg.letter)
        if slot is None:
            takes = " ".join(f"`{k}`" for k in op.signature.flags) or "no flags"
            raise self.fail(f"`{op.name}` takes no `{arg.letter}` flag", arg.span, f"`{op.name}` takes {takes}")
        if arg.letter in spans:
            raise self.fail(f"`{arg.letter}` is given twice", arg.span)
        attrs[slot.attr] = self.value(slot, arg.parts, arg.span, env, _FLAG_WHAT[arg.letter])
        spans[arg.letter] = spans[slot.attr] = arg.span

    def _keyword(self, op: OpDef, arg: s.KeywordArg, env: Env, attrs: dict, spans: dict) -> None:
        sig = op.signature
        slot = sig.keywords.get(arg.name)
        if slot is None:
            raise self.fail(f"`{op.name}` takes no keyword `{arg.name}`", arg.span,
                            _pytorch_spelling(op, arg) or suggest(arg.name, sig.keywords) or (
                                f"its keywords are {', '.join(f'`{k}`' for k in sig.keywords)}"
                                if sig.keywords else None))
        if slot.kind == "tensor":  # `like=NAME`: the name, the shape and the node of that tensor
            attrs[slot.attr], attrs[slot.attr + "_shape"], attrs[slot.attr + "_node"] = self._tensor(arg, env)
        elif slot.kind == "word":
            choices = sig.choices[arg.name]
            if not isinstance(arg.value, str) or arg.value not in choices:
                raise self.fail(f"`{arg.name}` must be one of {', '.join(choices)}", arg.span)
            attrs[slot.attr] = arg.value
        elif isinstance(arg.value, str):
            raise self.fail(f"`{arg.name}` takes a number, but is `{arg.value}`", arg.span)
        else:
            attrs[slot.attr] = self.value(slot, (arg.value,), arg.span, env, f"`{arg.name}`")
        spans[arg.name] = arg.span

    def _tensor(self, arg: s.KeywordArg, env: Env) -> tuple[str, tuple[int, ...], int]:
        """The tensor a keyword names: ``input``, a binding, or ``in`` (inside a block)."""
        name = arg.value
        if not isinstance(name, str):
            raise self.fail(f"`{arg.name}` takes a tensor's name, like `{arg.name}=input`", arg.span)
        if name == "in":
            tensor = env.in_tensor
            if tensor is None:
                raise self.fail(f"`{arg.name}=in` is only defined inside a block", arg.span,
                                "name a tensor instead, such as `input`")
        else:
            tensor = env.tensor(name)
            if tensor is None:
                if env.is_poisoned(name):
                    raise Poison()
                raise self.fail(f"`{name}` is not a tensor", arg.span,
                                suggest(name, [n for n in env.names() if env.tensor(n) is not None])
                                or "name `input`, a tensor bound earlier (`name = chain`), or `in` in a block")
        if not isinstance(tensor, Known):
            raise Poison()
        return name, tensor.shape, tensor.node

    def _unknown_word(self, op: OpDef, arg: s.WordArg, env: Env) -> None:
        if arg.word in _WORDS:
            raise self.fail(f"`{op.name}` does not take `{arg.word}`", arg.span)
        options = list(op.signature.words) + [n for n in env.names() if env.const(n) is not None]
        raise self.fail(f"`{arg.word}` is neither an option of `{op.name}` nor a defined number", arg.span,
                        suggest(arg.word, options))

    def _positional(self, op: OpDef, layer: s.Layer, args: list[s.SizeArg], env: Env,
                    attrs: dict, spans: dict) -> bool:
        slots = op.signature.positional
        ok = True
        for slot, arg in zip(slots, args):
            try:
                attrs[slot.attr] = self.value(slot, arg.parts, arg.span, env, slot.attr.replace("_", " "))
                spans[slot.attr] = arg.span
            except Poison:
                ok = False
        if len(args) > len(slots):
            extra = args[len(slots)]
            self.numbers.sink.error(
                f"`{op.name}` takes {len(slots) or 'no'} positional argument{'s' if len(slots) != 1 else ''}, "
                f"but {len(args)} were given", extra.span,
                "flags are glued to their value: `x64`, `s2`, `p1`" if slots else None)
            ok = False
        for slot in slots[len(args):]:
            if slot.required:
                self.numbers.sink.error(f"`{op.name}` needs {_POSITIONAL_HINT.get(slot.attr, slot.attr)}",
                                        layer.span)
                ok = False
        return ok

    def _words(self, op: OpDef, words: set[str], attrs: dict, spans: dict) -> None:
        if "same" in words and ("p" in spans or "valid" in words):
            where = spans.get("p") or spans["valid"]
            self.numbers.sink.error("`same` and an explicit padding contradict each other", where,
                                    "keep one of them")
            raise Poison()
        attrs["same"] = "same" in words
        attrs["ceil"] = "ceil" in words
        attrs["bias"] = "nobias" not in words
        for word in op.signature.words - _WORDS:  # an op's own words (`pixelwise`, `affine`) are flags
            attrs[word] = word in words


# PyTorch's keyword arguments, as archlang writes them
_PYTORCH_FLAGS = {"stride": "s", "padding": "p", "dilation": "d", "groups": "g", "out_channels": "x",
                  "out_features": "", "kernel_size": ""}


def _pytorch_spelling(op: OpDef, arg: s.KeywordArg) -> str | None:
    """`stride=2` -> "write `s2`": the spelling a PyTorch user tries, in archlang's words."""
    if arg.name not in _PYTORCH_FLAGS:
        return None
    value = arg.value
    shown = str(value.value) if isinstance(value, s.Number) else (value if isinstance(value, str) else "(...)")
    if arg.name == "padding" and shown in ("same", "valid"):
        return f"write `{shown}`"
    if arg.name == "kernel_size":
        return f"write the kernel size first, without a keyword: `{op.name} {shown}x{shown} ...`"
    if arg.name == "out_features":
        return f"write the number of outputs without a keyword: `{op.name} {shown}`"
    letter = _PYTORCH_FLAGS[arg.name]
    if letter not in op.signature.flags:
        return None
    return f"write `{letter}{shown}`" if shown != "(...)" else f"write `{letter}(...)`"


_FLAG_WHAT = {"x": "number of filters", "s": "stride", "p": "padding", "g": "number of groups",
              "d": "dilation"}

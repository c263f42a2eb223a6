"""Hostile and mistaken inputs, each with what archlang must answer.

A case runs ``archlang ARGS`` in a fresh folder holding its ``files``; ``{d}`` in an argument is
that folder. It must end with ``status``, print ``fragment`` (stderr or stdout), name the place
``where`` (``file:line:``) when a spec is at fault, print no traceback, and leave every file in
the folder as it was except those listed in ``outputs``. ``isolated`` cases run in their own
process under CPU-time and memory limits (they read devices, FIFOs, closed or endless standard
input, or ask for huge work); the others run in-process, many per process, under a CPU timer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Special:
    """A file that is not plain text: ``fifo``, ``symlink`` (to ``target``), ``chardev``
    (a scratch null device where one can be made), ``sparse`` (``size`` bytes of zeros),
    ``folder``."""

    kind: str
    target: str = ""
    size: int = 0


Content = Union[str, bytes, Special]


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    files: dict[str, Content] = field(default_factory=dict)
    status: int = 1
    fragment: str = ""
    where: str | None = None  # "net.arch:3:" when a spec is at fault
    outputs: tuple[str, ...] = ()
    isolated: bool = False
    stdin: str | None = None  # None (empty), "closed", "zero", or the text itself
    stdout: str | None = None  # None (captured) or "full"
    torch: bool = False
    forbid: tuple[str, ...] = ()  # text that must appear nowhere in the output
    env: dict[str, str] = field(default_factory=dict)


def spec(name: str, text: str | bytes, status: int, fragment: str, line: int | None = None, *,
         args: tuple[str, ...] = (), isolated: bool = False, forbid: tuple[str, ...] = (),
         files: dict[str, Content] | None = None, command: str = "check") -> Case:
    """``archlang check net.arch`` on ``text``; an error is expected at ``line`` (if given)."""
    return Case(name, (command, "{d}/net.arch", *args), {"net.arch": text, **(files or {})}, status, fragment,
                f"net.arch:{line}:" if line else None, isolated=isolated, forbid=forbid,
                torch=command == "compile", outputs=("net.py",) if "-o" in args else ())


GOOD = "input 8x8x3\nconv 3x3 x4 same -> relu -> flatten -> fc 2\n"
BIG_INT = "9" * 5000


def _nested_doubling(levels: int) -> str:
    lines = ["input 8x8x3", "block b0 { identity }"]
    lines += [f"block b{i} {{ b{i - 1} -> b{i - 1} }}" for i in range(1, levels + 1)]
    return "\n".join(lines + [f"b{levels} -> flatten -> fc 2"]) + "\n"


def _squares(times: int) -> str:
    lines = ["input 8x8x3", "a0 = 3"] + [f"a{i} = a{i - 1} * a{i - 1}" for i in range(1, times + 1)]
    return "\n".join(lines + ["flatten -> fc 2"]) + "\n"


def _deep_blocks(depth: int) -> str:
    lines = ["input 8x8x3", "block b0 { relu }"] + [f"block b{i} {{ b{i - 1} }}" for i in range(1, depth + 1)]
    return "\n".join(lines + [f"b{depth}"]) + "\n"


SPEC_CASES = [
    spec("unknown op", "input 8x8x3\nconvv 3x3 x4\n", 1, "unknown op or name `convv`", 2),
    spec("layer before input", "conv 3x3 x4\n", 1, "no `input` before it", 1),
    spec("second input", "input 8x8x3\ninput 8x8x3\nrelu\n", 1, "a second `input`", 2),
    spec("empty file", "", 1, "the spec has no `input`", 1),
    spec("only comments", "# nothing here\n", 1, "the spec has no `input`", 1),
    spec("only an input", "input 8x8x3\n", 1, "the network has no layers", 1),
    spec("input with no layers after an assignment", "input 8x8x3\nc = 3\n", 1, "the network has no layers", 1),
    spec("identity repeated a trillion times", "input 8x8x3\n(identity) * 1000000000000 -> relu\n", 0, "relu1"),
    spec("two million layers", "input 8x8x3\n(relu) * 2000000\n", 1, "more than 1,000,000 layers", 2),
    spec("blocks doubling a body with no layer", _nested_doubling(60), 1, "elaboration steps", isolated=True),
    spec("squares without end", _squares(40), 1, "this number is too large", 8),
    spec("a 5000-digit literal", f"input 8x8x3\nconv 3x3 x{BIG_INT}\n", 1, "5,000 digits", 2),
    spec("a 5000-digit size", f"input {BIG_INT}x8x3\nrelu\n", 1, "5,000 digits", 1),
    spec("a 5000-digit constant", f"input 8x8x3\nc = {BIG_INT}\nrelu\n", 1, "5,000 digits", 2),
    spec("float near the top of the range", "input 8x8x3\nconv 1x1 x(1e308)\n", 1, "this number is too large", 2),
    spec("infinite float literal", "input 8x8x3\nconv 1x1 x(1e999)\n", 1, "not finite", 2),
    spec("infinity by arithmetic", "input 8x8x3\nc = 1e300 * 1e300\nrelu\n", 1, "too large", 2),
    spec("deep parentheses", "input 8x8x3\nc = " + "(" * 5000 + "1" + ")" * 5000 + "\nrelu\n", 1, "too deeply"),
    spec("deeply nested block calls", _deep_blocks(3000), 1, "too deeply", isolated=True),
    spec("escape sequences in a bad line", "input 8x8x3\n\x1b]0;owned\x07\x1b[2J\n", 1, "unexpected character", 2,
         forbid=("\x1b", "\x07")),
    spec("escape sequence in a name position", "input 8x8x3\nrelu \x1b[2J\n", 1, "unexpected character", 2,
         forbid=("\x1b",)),
    spec("form feed inside a line", "input 8x8x3\n\x0c relu\nbogus\n", 1, "3 | bogus", 3),
    spec("line separator in a comment", "# a\u2028b\ninput 8x8x3\nbogus\n", 1, "3 | bogus", 3),
    spec("carriage returns", "input 8x8x3\r\nrelu\r\nbogus\r\n", 1, "3 | bogus", 3),
    spec("byte-order mark", "\ufeffinput 8x8x3\nrelu\n", 0, "relu1"),
    spec("NUL byte in the text", "input 8x8x3\n\x00\n", 1, "unexpected character", 2, forbid=("\x00",)),
    spec("invalid UTF-8", b"input 8x8x3\n\xff\xfe\n", 2, "not UTF-8 text"),
    spec("use a device", 'use "/dev/zero"\ninput 8x8x3\nrelu\n', 1, "not a regular file", 1),
    spec("use a NUL byte", 'use "a\x00b"\ninput 8x8x3\nrelu\n', 1, "NUL byte", 1, forbid=("\x00",)),
    spec("use a symlink loop", 'use "loop.arch"\ninput 8x8x3\nrelu\n', 1, "cannot read `loop.arch`", 1,
         files={"loop.arch": Special("symlink", "loop.arch")}),
    spec("use a cycle", 'use "a.arch"\ninput 8x8x3\nrelu\n', 1, "`use` makes a cycle",
         files={"a.arch": 'use "b.arch"\n', "b.arch": 'use "a.arch"\n'}),
    spec("use a missing file", 'use "missing.arch"\ninput 8x8x3\nrelu\n', 1, "no such file", 1),
    spec("use a folder", 'use "sub"\ninput 8x8x3\nrelu\n', 1, "folder", 1, files={"sub": Special("folder")}),
    spec("use a FIFO", 'use "pipe"\ninput 8x8x3\nrelu\n', 1, "not a regular file", 1,
         files={"pipe": Special("fifo")}, isolated=True),
    spec("use binary", 'use "blob.bin"\ninput 8x8x3\nrelu\n', 1, "not UTF-8", 1, files={"blob.bin": b"\xff\x00\xfe"}),
    spec("use a file that is not a spec", 'use "secret.txt"\ninput 8x8x3\nrelu\n', 1, "secret.txt:1:",
         files={"secret.txt": "root:x:0:0:first line\ndaemon:x:1:1:second line\nbin:x:2:2:third line\n"},
         forbid=("second line", "third line")),
    spec("use a huge sparse file", 'use "big.arch"\ninput 8x8x3\nrelu\n', 1, "larger than", 1,
         files={"big.arch": Special("sparse", size=17 * 1024 * 1024)}),
    spec("recursive block", "input 8x8x3\nblock b { b }\nb\n", 1, "calls itself", 2),
    spec("mutually recursive blocks", "input 8x8x3\nblock a { b }\nblock b { a }\na\n", 1, "calls itself"),
    spec("block defined twice", "input 8x8x3\nblock b { relu }\nblock b { relu }\nb\n", 1, "defined twice", 3),
    spec("block named like an op", "input 8x8x3\nblock conv { relu }\nrelu\n", 1, "built-in name", 2),
    spec("division by zero", "input 8x8x3\nc = 1 / 0\nrelu\n", 1, "division by zero", 2),
    spec("negative repeat", "input 8x8x3\n(relu) * -1\n", 1, "repeat count", 2),
    spec("fractional repeat", "input 8x8x3\n(relu) * 2.5\n", 1, "whole number", 2),
    spec("zero filters", "input 8x8x3\nconv 3x3 x0\n", 1, "positive", 2),
    spec("kernel larger than the input", "input 8x8x3\nconv 9x9 x4\n", 1, "9x9", 2),
    spec("fc on an image", "input 8x8x3\nfc 10\n", 1, "fc needs a vector", 2),
    spec("concat of different sizes", "input 8x8x3\nconcat(conv 3x3 x4, conv 1x1 x4)\n", 1, "concat", 2),
    spec("add of different channels", "input 8x8x3\nadd(conv 1x1 x4, conv 1x1 x8)\n", 1, "add", 2),
    spec("residual that changes channels", "input 8x8x3\nresidual(conv 1x1 x8)\n", 1, "residual", 2),
    spec("freeze without a chain", "input 8x8x3\nfreeze()\n", 1, "freeze", 2),
    spec("tensor from outside a block", "input 8x8x3\nt = conv 1x1 x4\nblock b { t -> relu }\nb\n", 1,
         "bound outside", 3),
    spec("PyTorch keyword stride", "input 8x8x3\nconv 3x3 x4 stride=2\n", 1, "write `s2`", 2),
    spec("PyTorch keyword padding", "input 8x8x3\nconv 3x3 x4 padding=1\n", 1, "write `p1`", 2),
    spec("PyTorch keyword kernel_size", "input 8x8x3\nconv x4 kernel_size=3\n", 1, "write the kernel", 2),
    spec("PyTorch keyword out_channels", "input 8x8x3\nconv 3x3 out_channels=4\n", 1, "write `x4`", 2),
    spec("error inside a block names the call", "input 8x8x3\nblock inv(c) {\n  conv 3x3 x(c - 64)\n}\ninv(64)\n",
         1, "note: in call to `inv(64)`", 3),
    spec("if swallowing the rest of the chain",
         "input 8x8x3\nbn = 1\nif bn then batchnorm else identity -> relu -> flatten -> fc 2\n", 0,
         "belongs to the `else` branch", 3),
    spec("channel-first input", "input 3x224x224\nconv 3x3 x4\n", 0, "channels last", 1),
    spec("syntax error at the end", "input 8x8x3\nconv 3x3 x4 ->\n", 1, "unexpected end of file", 2),
    spec("fifty syntax errors", "input 8x8x3\n" + "conv 3x3 ) x4\n" * 50, 1, "10 errors", 2),
    spec("unclosed block", "input 8x8x3\nblock b {\nrelu\n", 1, "unexpected end of file"),
    spec("two headers", "network a\nnetwork b\ninput 8x8x3\nrelu\n", 1, "a second `network` header", 2),
    spec("parameter without default", "network n(c)\ninput 8x8x3\nconv 3x3 x(c)\n", 1, "has no default", 1),
    spec("in.c at the top level", "input 8x8x3\nconv 3x3 x(in.c)\n", 1, "only defined inside a block", 2),
    spec("in.q in a block", "input 8x8x3\nblock b { conv 3x3 x(in.q) }\nb\n", 1, "does not exist", 2),
    spec("unknown function", "input 8x8x3\nc = foo(3)\nrelu\n", 1, "unknown op or name `foo`", 2),
    spec("unknown keyword", "input 8x8x3\nconv 3x3 x4 foo=2\n", 1, "takes no keyword `foo`", 2),
    spec("same and padding", "input 8x8x3\nconv 3x3 x4 same p1\n", 1, "contradict", 2),
    spec("huge but finite input", "input 1000000000x1000000000x3\nconv 3x3 x4\n", 0, "multiplies"),
    spec("very long line", "input 8x8x3\n" + " " * 100000 + "bogus\n", 1, "unknown op or name `bogus`", 2),
    spec("tab before an error", "input 8x8x3\n\tbogus\n", 1, "2 | \u0020bogus", 2),
    spec("ten thousand statements", "input 8x8x3\n" + "relu\n" * 10000, 0, "relu10000"),
    spec("deep combinator nesting", "input 8x8x3\n" + "add(" * 400 + "relu" + ")" * 400 + "\n", 1, "too deeply"),
    spec("avgpool with uneven same padding excluding padding",
         "input 8x8x3\navgpool 2 s1 same count_include_pad=0\n", 1, "count_include_pad", 2),
    spec("avgpool with uneven same padding including padding", "input 8x8x3\navgpool 2 s1 same\n", 0, "avgpool1"),
    spec("upsample by zero", "input 8x8x3\nupsample 0\n", 1, "upsample", 2),
    spec("keyword value is a word", "input 8x8x3\nbatchnorm eps=big\n", 1, "eps", 2),
    spec("string as a size", 'input 8x8x3\nconv "3"\n', 1, "unexpected", 2),
    spec("negative input size", "input -8x8x3\nrelu\n", 1, "unexpected", 1),
    spec("repeat count from a tensor", "input 8x8x3\nt = relu\n(relu) * t\n", 1, "number", 3),
    spec("chain used as a number", "input 8x8x3\nc = relu\nconv 3x3 x(c)\n", 1, "tensor", 3),
    spec("huge repeat of a layer", "input 8x8x3\n(relu) * 1000000000000000000\n", 1, "1,000,000 layers", 2),
    spec("repeat count above the number cap", "input 8x8x3\n(relu) * 10000000000000000000\n", 1, "20 digits", 2),
    spec("block argument is a chain", "input 8x8x3\nblock b(c) { conv 1x1 x(c) }\nb(relu)\n", 1, "numbers", 3),
    spec("too many block arguments", "input 8x8x3\nblock b(c) { conv 1x1 x(c) }\nb(1, 2)\n", 1, "takes 1", 3),
    spec("reserved binding names compile", "input 4\nto_empty = fc 3\nregister_forward_hook = relu\n", 0,
         "verified", args=("--verify",), command="compile"),
    spec("archlang attribute names compile", "input 4\narchlang_graph = fc 3\narchlang_source = relu\n", 0,
         "verified", args=("--verify",), command="compile"),
    spec("network named None", "network None\ninput 4\nfc 3\n", 0, "class NoneNet(nn.Module)", command="compile"),
    spec("compile onto its own spec", GOOD, 2, "one of the input files", args=("-o", "{d}/net.arch"),
         command="compile"),
]


def cli(name: str, args: tuple[str, ...], status: int, fragment: str, *, files: dict[str, Content] | None = None,
        outputs: tuple[str, ...] = (), isolated: bool = False, stdin: str | None = None, stdout: str | None = None,
        torch: bool = False, env: dict[str, str] | None = None, where: str | None = None) -> Case:
    """A command line; ``net.arch`` (a good spec) is in the folder unless ``files`` says otherwise."""
    return Case(name, args, {"net.arch": GOOD} if files is None else files, status, fragment, where, outputs,
                isolated, stdin, stdout, torch or args[:1] == ("compile",), env=env or {})


SCALABLE = "network n(depth = 1.0, width = 1.0, res = 16)\ninput (res)x(res)x3\nconv 3x3 x(round(8 * width))\n"
NO_MULTIPLIES = "network n(depth = 1.0, width = 1.0, res = 16)\ninput (res)x(res)x3\nrelu\n"
PARAMETRISED = "network n(c = 4)\ninput 8x8x3\nconv 3x3 x(c)\n"

CLI_CASES = [
    cli("check a missing file", ("check", "{d}/missing.arch"), 2, "no such file"),
    cli("check a folder", ("check", "{d}"), 2, "it is a folder"),
    cli("check /dev/zero", ("check", "/dev/zero"), 2, "not a regular file", isolated=True),
    cli("check a character device", ("check", "{d}/null"), 2, "not a regular file",
        files={"null": Special("chardev")}, isolated=True),
    cli("check a FIFO", ("check", "{d}/pipe"), 2, "not a regular file", files={"pipe": Special("fifo")},
        isolated=True),
    cli("check a 17 MiB file", ("check", "{d}/big.arch"), 2, "larger than",
        files={"big.arch": Special("sparse", size=17 * 1024 * 1024)}),
    cli("check a dangling symlink", ("check", "{d}/link.arch"), 2, "no such file",
        files={"link.arch": Special("symlink", "nowhere.arch")}),
    cli("check a symlink loop", ("check", "{d}/loop.arch"), 2, "cannot read",
        files={"loop.arch": Special("symlink", "loop.arch")}),
    cli("check an undecodable file name", ("check", "{d}/b\udcff.arch"), 2, "no such file"),
    cli("check closed standard input", ("check", "-"), 2, "standard input is closed", stdin="closed",
        isolated=True),
    cli("check endless standard input", ("check", "-"), 2, "larger than", stdin="zero", isolated=True),
    cli("check a spec on standard input", ("check", "-"), 0, "conv1", stdin=GOOD, isolated=True),
    cli("check a bad spec on standard input", ("check", "-"), 1, "unknown op", stdin="input 4\nbogus\n",
        isolated=True, where="<stdin>:2:"),
    cli("check to a full disk", ("check", "{d}/net.arch"), 2, "no space left", stdout="full", isolated=True),
    cli("-D not a number", ("check", "{d}/net.arch", "-D", "c=abc"), 2, "is not a number", files={"net.arch": PARAMETRISED}),
    cli("-D nan", ("check", "{d}/net.arch", "-D", "c=nan", "--format", "json"), 2, "not a finite number",
        files={"net.arch": PARAMETRISED}),
    cli("-D inf", ("check", "{d}/net.arch", "-D", "c=inf"), 2, "not a finite number", files={"net.arch": PARAMETRISED}),
    cli("-D 1e400", ("check", "{d}/net.arch", "-D", "c=1e400"), 2, "not a finite number",
        files={"net.arch": PARAMETRISED}),
    cli("-D 5000 digits", ("check", "{d}/net.arch", "-D", f"c={BIG_INT}"), 2, "not a finite number",
        files={"net.arch": PARAMETRISED}),
    cli("-D above the cap", ("check", "{d}/net.arch", "-D", "c=10000000000000000000"), 2, "at most",
        files={"net.arch": PARAMETRISED}),
    cli("-D unknown parameter", ("check", "{d}/net.arch", "-D", "d=3"), 2, "has no parameter `d`",
        files={"net.arch": PARAMETRISED}),
    cli("-D without value", ("check", "{d}/net.arch", "-D", "c"), 2, "expected NAME=VALUE"),
    cli("-D with a bad name", ("check", "{d}/net.arch", "-D", "1c=3"), 2, "expected NAME=VALUE"),
    cli("--input zero", ("check", "{d}/net.arch", "--input", "0x8x3"), 2, "positive sizes"),
    cli("--input words", ("check", "{d}/net.arch", "--input", "abc"), 2, "expected HxWxC"),
    cli("--input two sizes", ("check", "{d}/net.arch", "--input", "8x8"), 2, "expected HxWxC"),
    cli("--input channel-first", ("check", "{d}/net.arch", "--input", "3x32x32"), 0, "channels last"),
    cli("--input huge", ("check", "{d}/net.arch", "--input", f"{BIG_INT}x8x3"), 2, "expected HxWxC"),
    cli("--format unknown", ("check", "{d}/net.arch", "--format", "yaml"), 2, "invalid choice"),
    cli("--depth negative", ("check", "{d}/net.arch", "--depth", "-1"), 2, "--depth"),
    cli("--width zero", ("check", "{d}/net.arch", "--width", "0"), 2, "--width"),
    cli("unknown command", ("frobnicate",), 2, "invalid choice"),
    cli("no command", (), 2, "required"),
    cli("check without a file", ("check",), 2, "required"),
    cli("scale with negative phi", ("scale", "{d}/net.arch", "--phi", "-1"), 2, "expected 0 to 20",
        files={"net.arch": SCALABLE}),
    cli("scale with huge phi", ("scale", "{d}/net.arch", "--phi", "1000000"), 2, "expected 0 to 20",
        files={"net.arch": SCALABLE}),
    cli("scale with nan gamma", ("scale", "{d}/net.arch", "--phi", "1", "--gamma", "nan"), 2, "--gamma",
        files={"net.arch": SCALABLE}),
    cli("scale with zero alpha", ("scale", "{d}/net.arch", "--phi", "1", "--alpha", "0"), 2, "--alpha",
        files={"net.arch": SCALABLE}),
    cli("scale with huge beta", ("scale", "{d}/net.arch", "--phi", "1", "--beta", "1e308"), 2, "--beta",
        files={"net.arch": SCALABLE}),
    cli("scale without multiplies", ("scale", "{d}/net.arch", "--phi", "1"), 2, "no multiplies",
        files={"net.arch": NO_MULTIPLIES}),
    cli("scale without the parameters", ("scale", "{d}/net.arch", "--phi", "1"), 2, "to scale"),
    cli("scale works", ("scale", "{d}/net.arch", "--phi", "2"), 0, "alpha=1.2", files={"net.arch": SCALABLE}),
    cli("render to an unknown format", ("render", "{d}/net.arch", "-o", "{d}/x.txt"), 2, "cannot tell the format"),
    cli("render into a missing folder", ("render", "{d}/net.arch", "-o", "{d}/no/x.dot"), 2, "does not exist"),
    cli("render an image into a missing folder", ("render", "{d}/net.arch", "-o", "{d}/no/x.svg"), 2,
        "does not exist", env={"PATH": ""}),
    cli("render onto its own spec", ("render", "{d}/net.dot", "-o", "{d}/net.dot"), 2, "one of the input files",
        files={"net.dot": GOOD}),
    cli("render without dot beside an existing .dot", ("render", "{d}/net.arch", "-o", "{d}/net.svg"), 2,
        "already exists", files={"net.arch": GOOD, "net.dot": "digraph mine {}\n"}, env={"PATH": ""}),
    cli("render without dot writes the .dot", ("render", "{d}/net.arch", "-o", "{d}/net.svg"), 2,
        "wrote", outputs=("net.dot",), env={"PATH": ""}),
    cli("render a .dot over a symlink", ("render", "{d}/net.arch", "-o", "{d}/link.dot"), 0, "wrote",
        files={"net.arch": GOOD, "real.dot": "old\n", "link.dot": Special("symlink", "real.dot")},
        outputs=("real.dot",)),
    cli("render to an undecodable file name", ("render", "{d}/net.arch", "-o", "{d}/b\udcff.dot"), 0, "wrote",
        outputs=("b\udcff.dot",)),
    cli("compile to a folder", ("compile", "{d}/net.arch", "-o", "{d}"), 2, "folder"),
    cli("compile into a missing folder", ("compile", "{d}/net.arch", "-o", "{d}/no/net.py"), 2, "does not exist"),
    cli("compile onto a symlink to its spec", ("compile", "{d}/net.arch", "-o", "{d}/link.py"), 2,
        "one of the input files", files={"net.arch": GOOD, "link.py": Special("symlink", "net.arch")}),
    cli("compile onto a used file", ("compile", "{d}/net.arch", "-o", "{d}/lib.arch"), 2, "one of the input files",
        files={"net.arch": 'use "lib.arch"\ninput 8x8x3\nb\n', "lib.arch": "block b { relu }\n"}),
    cli("compile to a character device", ("compile", "{d}/net.arch", "-o", "{d}/null"), 0, "wrote",
        files={"net.arch": GOOD, "null": Special("chardev")}),
    cli("compile over a symlink", ("compile", "{d}/net.arch", "-o", "{d}/link.py"), 0, "wrote",
        files={"net.arch": GOOD, "real.py": "old\n", "link.py": Special("symlink", "real.py")},
        outputs=("real.py",)),
    cli("compile with an unknown device", ("compile", "{d}/net.arch", "--verify", "--device", "bogus"), 2,
        "not a device PyTorch knows"),
    cli("compile with a missing CUDA", ("compile", "{d}/net.arch", "--verify", "--device", "cuda:7"), 2, "cuda"),
    cli("save onto its own spec", ("compile", "{d}/net.arch", "--save", "{d}/net.arch"), 2, "one of the input files"),
    cli("save onto the checkpoint", ("compile", "{d}/net.arch", "--weights", "{d}/w.pt", "--save", "{d}/w.pt"), 2,
        "cannot read weights", files={"net.arch": GOOD, "w.pt": b""}),
    cli("weights missing", ("compile", "{d}/net.arch", "--weights", "{d}/none.pt"), 2, "no such file"),
    cli("weights empty", ("compile", "{d}/net.arch", "--weights", "{d}/w.pt"), 2, "not a readable PyTorch checkpoint",
        files={"net.arch": GOOD, "w.pt": b""}),
    cli("weights garbage", ("compile", "{d}/net.arch", "--weights", "{d}/w.pt"), 2,
        "not a readable PyTorch checkpoint", files={"net.arch": GOOD, "w.pt": b"\x80\x04garbage" * 10}),
    cli("weights truncated zip", ("compile", "{d}/net.arch", "--weights", "{d}/w.pt"), 2,
        "not a readable PyTorch checkpoint", files={"net.arch": GOOD, "w.pt": b"PK\x03\x04" + b"\x00" * 40}),
    cli("weights a folder", ("compile", "{d}/net.arch", "--weights", "{d}/sub"), 2, "cannot read weights",
        files={"net.arch": GOOD, "sub": Special("folder")}),
    cli("weights a FIFO", ("compile", "{d}/net.arch", "--weights", "{d}/pipe"), 2, "not a regular file",
        files={"net.arch": GOOD, "pipe": Special("fifo")}, isolated=True),
    cli("skip without weights", ("compile", "{d}/net.arch", "--skip", "head"), 2, "applies to `--weights`"),
    cli("strict without weights", ("compile", "{d}/net.arch", "--strict"), 2, "applies to `--weights`"),
    cli("verify a tensor beyond int64", ("compile", "{d}/net.arch", "--verify"), 1, "PyTorch could not",
        files={"net.arch": "input 1000000000000000000x1000000000000000000x3\nconv 1x1 x4\n"}),
    cli("verify a tensor beyond memory", ("compile", "{d}/net.arch", "--verify"), 1, "PyTorch could not",
        files={"net.arch": "input 100000x100000x3\nconv 1x1 x4\n"}, isolated=True),
    cli("class named after True.arch", ("compile", "{d}/True.arch"), 0, "class TrueNet(nn.Module)",
        files={"True.arch": "input 4\nfc 3\n"}),
]

CASES = SPEC_CASES + CLI_CASES

"""Bounds on the work one spec may ask for. Each is far above what a real network needs, and
each is reported as a located error with a hint, so that a hostile or mistaken spec ends in
bounded time and memory instead of hanging or exhausting the machine."""

from __future__ import annotations

MAX_LAYERS = 1_000_000
"""Layers one spec may unroll to (every layer is a node the analysis keeps in memory)."""

MAX_STEPS = 10_000_000
"""Elaboration steps (chain items, block calls, repetitions), layers or not: a loop that makes
no layer, such as `(identity) * 1000000000000`, still counts."""

MAX_NUMBER = 10 ** 18
"""Largest magnitude of a number in a spec, written or computed (sizes, counts, constants)."""

MAX_DIGITS = 19
"""Longest integer literal read from a spec: anything longer is above :data:`MAX_NUMBER`."""

MAX_SPEC_BYTES = 16 * 1024 * 1024
"""Largest spec file (or standard input) read, `use`d files included, each."""

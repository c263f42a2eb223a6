"""The op registry: for every layer, its arguments, shape rule, parameter count, multiply count
and PyTorch constructor, side by side, so that the table and the model cannot disagree.

Each op first resolves the attributes bound from the spec against its input shape (a new mapping
with the derived values, such as the padding pairs ``pads``; the bound ones stay as written), then
its rule takes the input shape and the resolved attributes and returns the output shape or raises
:class:`~archlang.core.shapes.ShapeError`. Constructors return Python source for the generated model;
nothing here imports torch.
"""

from . import augment, layers, merges, spatial  # noqa: F401  (each registers its entries)
from .layers import INPLACE_ACTIVATIONS
from .registry import (ALIASES, MERGES, REGISTRY, Arg, Attrs, MergeDef, OpDef, Signature, describe, known_names,
                       lookup, lookup_merge, register, register_merge)

__all__ = ["ALIASES", "INPLACE_ACTIVATIONS", "MERGES", "REGISTRY", "Arg", "Attrs", "MergeDef", "OpDef", "Signature",
           "describe", "known_names", "lookup", "lookup_merge", "register", "register_merge"]

"""The op registry: for every layer, its arguments, shape rule, parameter count, multiply count
and PyTorch constructor, side by side, so that the table and the model cannot disagree.

Rules take the input shape and the node's attributes (a dict the rule may complete with derived
values, such as the resolved padding) and return the output shape or raise
:class:`~archlang.shapes.ShapeError`. Constructors return Python source for the generated model;
nothing here imports torch.
"""

from . import layers, merges, spatial  # noqa: F401  (each registers its entries)
from .layers import INPLACE_ACTIVATIONS
from .registry import (ALIASES, MERGES, REGISTRY, Arg, Attrs, MergeDef, OpDef, Signature, describe, known_names,
                       lookup, lookup_merge, register, register_merge)

__all__ = ["ALIASES", "INPLACE_ACTIVATIONS", "MERGES", "REGISTRY", "Arg", "Attrs", "MergeDef", "OpDef", "Signature",
           "describe", "known_names", "lookup", "lookup_merge", "register", "register_merge"]

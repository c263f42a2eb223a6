"""Which operations the generated model runs in place: activations that overwrite their input and
merges that overwrite an operand. Code generation writes them (`relu(inplace=True)`, `a.add_(b)`);
training memory (`analyses/memory.py`) counts the tensors they do not allocate. Kept apart from the
code generator so that an analysis reads the plan without importing code generation."""

from __future__ import annotations

from ..core.ir import Graph
from ..core.opdef import MergeDef, OpDef
from ..ops import INPLACE_ACTIVATIONS


def inplace_plan(graph: Graph) -> tuple[set[int], dict[int, int]]:
    """The activations run in place and the merges that overwrite an operand (node -> the
    operand's position), the graph walked once."""
    consumers = graph.consumers()
    return inplace_activations(graph, consumers), inplace_merges(graph, consumers)


def _reusable_by(graph: Graph, consumers: dict[int, list[int]], producer: int, reader: int) -> bool:
    """Whether ``reader`` may overwrite ``producer``'s output: autograd does not keep it (the
    registry's ``output_reusable``), ``reader`` is its only reader, and it is not an output."""
    definition = graph.nodes[producer].definition
    return (isinstance(definition, (OpDef, MergeDef)) and definition.output_reusable
            and consumers[producer] == [reader] and all(o.node != producer for o in graph.outputs))


def inplace_activations(graph: Graph, consumers: dict[int, list[int]]) -> set[int]:
    """The one-input activations that may overwrite their input."""
    return {node.index for node in graph.layers
            if node.op in INPLACE_ACTIVATIONS and len(node.inputs) == 1
            and _reusable_by(graph, consumers, node.inputs[0], node.index)}


def inplace_merges(graph: Graph, consumers: dict[int, list[int]]) -> dict[int, int]:
    """A merge with an in-place form may overwrite an operand it may reuse that has the result's
    shape (a 1x1xC operand broadcasts and cannot hold the sum): node -> the operand's position."""
    chosen: dict[int, int] = {}
    for node in graph.layers:
        if not isinstance(node.definition, MergeDef) or node.definition.torch_inplace is None:
            continue
        for position, i in enumerate(node.inputs):
            if graph.nodes[i].shape == node.shape and _reusable_by(graph, consumers, i, node.index):
                chosen[node.index] = position
                break
    return chosen

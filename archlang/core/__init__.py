"""The stage every other builds on: spans and diagnostics, shapes and their one formatter,
the op vocabulary (`OpDef`, `MergeDef`), the graph IR, and atomic file writes. Imports nothing
from the rest of archlang."""

VERSION = "0.1.0"

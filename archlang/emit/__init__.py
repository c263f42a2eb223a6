"""Backends and presenters: tables (text, JSON, Markdown, CSV, HTML), Graphviz diagrams, PyTorch
source, built and verified modules, weights. Libraries only: the commands are in `archlang.cli`."""

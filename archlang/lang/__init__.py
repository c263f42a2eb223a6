"""The language: the syntax tree and the parser that builds it from text."""

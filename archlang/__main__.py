"""``python -m archlang``: the command line."""

from .cli import run

run()

"""Optional dependencies: a light install has no PyTorch; the commands that need it say how to
get it instead of failing with an import traceback."""

from __future__ import annotations

from .errors import ArchError, Diagnostic, Severity

TORCH_HINT = 'install PyTorch with archlang\'s `torch` extra: `pip install "archlang[torch]"`'


def has_torch() -> bool:
    """Whether ``import torch`` works here (a blocked or broken install counts as missing)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_installed() -> bool:
    """Whether PyTorch is installed and not blocked, without importing it (seconds of start-up),
    for commands that only write code for it."""
    from importlib.util import find_spec

    try:
        return find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_torch(command: str) -> None:
    """Raise a usage error (exit 2) naming the extra to install when PyTorch is missing."""
    if not has_torch():
        raise ArchError([Diagnostic(Severity.ERROR, f"`archlang {command}` needs PyTorch, which is not installed",
                                    None, help=TORCH_HINT, code="usage")])


def import_torch_for(what: str) -> None:
    """For the Python API: a ``ModuleNotFoundError`` that names the extra, when PyTorch is missing."""
    if not has_torch():
        raise ModuleNotFoundError(f"{what} needs PyTorch, which is not installed; {TORCH_HINT}", name="torch")

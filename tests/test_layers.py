"""The package's stages import one way only: each module's imports (read from its source, lazy
ones inside functions included) reach its own stage or an earlier one, and no modules import
one another in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "archlang"
# docs/ARCHITECTURE.md: the stages in their one-way order
STAGES = ("core", "lang", "ops", "sema", "api", "report", "scaling", "emit", "analyses", "importer", "tooling", "cli", "__main__",
          "__init__")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> int:
    parts = module.split(".")
    return STAGES.index(parts[1] if len(parts) > 1 else "__init__")


def imports(path: Path) -> set[str]:
    """The archlang modules ``path`` imports, absolute names."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if node.level and not node.module:  # `from . import syntax`: the names are modules
                found |= {f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}")}
                found.add(target)
            elif target.startswith("archlang"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names if _exists(f"{target}.{a.name}")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("archlang")}
    return {f for f in found if f != module}


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_belongs_to_a_stage() -> None:
    for module in graph():
        assert stage(module) >= 0, module


def test_no_upward_import() -> None:
    upward = [f"{m} imports {t}" for m, targets in graph().items() for t in targets
              if t != "archlang" and stage(t) > stage(m)]
    upward += [f"{m} imports the package front door" for m, targets in graph().items()
               if "archlang" in targets and m != "archlang"]
    assert not upward, "\n".join(upward)


def test_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(module):] + [module]))
        if module in done:
            return
        for target in edges.get(module, ()):
            if target != "archlang":
                visit(target, path + [module])
        done.add(module)

    for module in edges:
        visit(module, [])


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The test above can fail: a backend calling back into the front door is caught."""
    assert stage("archlang.emit.dot") > stage("archlang.api") > stage("archlang.sema.chains")
    assert "archlang.api" in imports(PACKAGE / "scaling.py")
    assert "archlang.sema.elaborate" in imports(PACKAGE / "api.py")
    assert "archlang.lang.syntax" in imports(PACKAGE / "sema" / "chains.py")

"""The layers of the code, checked on its imports (read with `ast`, nothing is imported).

Data flows one way (docs/design.md): syntax -> corpus / naming -> training; syntax -> engine -> language server,
evaluation, command line.  So:

* `codecomp.syntax` imports nothing of codecomp outside itself;
* `codecomp.engine` (the serving path) never imports `training`, `lsp_server` or `codecomp.eval`;
* nothing under `codecomp/` imports `training` or `lsp_server`, except the command-line assembly
  (`codecomp.cli`), and that one only inside functions, when a command of theirs runs;
* no import cycles among the modules of `codecomp`, `lsp_server` and `training`, counting imports inside
  functions too (a cycle that only a lazy import hides is still a tangle).

Imports under `if TYPE_CHECKING:` are not imports at run time and are left out.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("codecomp", "lsp_server", "training")
CLI_ASSEMBLY = {"codecomp.cli"}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str      # the module imported (a package's __init__ is the package name)
    lazy: bool       # inside a function
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.target} (line {self.line}{', in a function' if self.lazy else ''})"


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module `name` refers to (itself, or the package it is an attribute of); None outside."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_of(module: str, path: Path) -> list[Import]:
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [t for t in (_resolve(a.name) for a in node.names) if t]
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        out = []
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            target = sub if sub in MODULES else _resolve(source)
            if target:
                out.append(target)
        return out

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, lazy)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend(Import(module, t, lazy, child.lineno) for t in targets(child) if t != module)
                continue
            visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports_of(module, path)]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_import_reader_sees_the_imports() -> None:
    """The checks below are only as good as the import graph: it must see absolute, relative, `from package
    import module` and lazy imports, and skip TYPE_CHECKING blocks."""
    edges = {(i.importer, i.target): i.lazy for i in IMPORTS}
    assert edges[("codecomp.syntax.parsed", "codecomp.syntax.tokens")] is False          # from .tokens import
    assert edges[("codecomp.engine.core", "codecomp.engine.candidates")] is False       # from pkg import module
    assert edges[("codecomp.syntax.parsed", "codecomp.syntax.scopes")] is True          # inside a method
    assert ("codecomp.syntax.scopes", "codecomp.syntax.parsed") not in edges            # TYPE_CHECKING only
    assert len(MODULES) > 80 and len(IMPORTS) > 300


def test_syntax_imports_nothing_above_it() -> None:
    bad = [str(i) for i in IMPORTS if _within(i.importer, "codecomp.syntax") and _within(i.target, "codecomp")
           and not _within(i.target, "codecomp.syntax")]
    assert not bad, "codecomp.syntax must not import the layers above it:\n" + "\n".join(bad)


@pytest.mark.parametrize("forbidden", ["training", "lsp_server", "codecomp.eval"])
def test_the_engine_never_imports(forbidden: str) -> None:
    bad = [str(i) for i in IMPORTS if _within(i.importer, "codecomp.engine") and _within(i.target, forbidden)]
    assert not bad, f"the serving path (codecomp.engine) must not import {forbidden}:\n" + "\n".join(bad)


def test_only_the_command_line_assembly_reaches_training_and_the_server() -> None:
    bad = [str(i) for i in IMPORTS if _within(i.importer, "codecomp")
           and (_within(i.target, "training") or _within(i.target, "lsp_server"))
           and not (i.importer in CLI_ASSEMBLY and i.lazy)]
    assert not bad, ("only codecomp.cli may import training or lsp_server, and only inside functions:\n"
                     + "\n".join(bad))
    assert any(i.importer in CLI_ASSEMBLY and _within(i.target, "training") for i in IMPORTS)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        edges[imp.importer].add(imp.target)
    cycles = _cycles(edges)
    assert not cycles, "import cycles (module-level and in-function imports):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_the_command_line_loads_training_and_the_server_only_for_their_commands() -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "from typer.testing import CliRunner\n"
            "import codecomp.cli as cli\n"
            "loaded = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'training', 'lsp_server', 'torch'})\n"
            "assert CliRunner().invoke(cli.app, ['complete', '--help']).exit_code == 0\n"
            "print(loaded())\n"
            "result = CliRunner().invoke(cli.app, ['train', '--help'])\n"
            "assert result.exit_code == 0 and '--corpus' in result.output, result.output\n"
            "print(loaded())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.splitlines()
    assert before == "[]" and "training" in after and "torch" not in after

"""Size limits that keep the code readable, checked on every run: no module
outside the tests over 600 lines, no function over 60, and no module reaching
into another module's private (``_``) names."""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "config",
    "integrations",
    "payments",
    "shipping",
    "inventory",
    "notifications",
    "storefront_hooks",
    "bench",
)
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def _modules() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_module_over_600_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}


def test_no_function_over_60_lines() -> None:
    too_long = {}
    for path in _modules():
        for node in _functions(ast.parse(path.read_text())):
            # Decorators and the docstring count: it is what a reader scrolls.
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = node.end_lineno - start + 1
            if lines > MAX_FUNCTION_LINES:
                too_long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert too_long == {}


def test_no_module_imports_another_modules_private_names() -> None:
    reaching = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                private = [
                    alias.name
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
                reaching += [
                    f"{path.relative_to(ROOT)}: {node.module}.{n}" for n in private
                ]
    assert reaching == []

"""Storefront webhooks read no private (``_``) attribute of the shared
core's objects (as ``tests/platform/test_sizes.py`` forbids importing
private names, which it cannot see read through an object): the sweep's
breaker reads go through the breaker store's public read of many."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _private_attributes(folder: Path) -> set[str]:
    """The ``_`` attributes and methods the classes under ``folder`` own."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for item in ast.walk(node):
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        names.add(item.name)
                    if isinstance(item, ast.Attribute) and isinstance(
                        item.ctx, ast.Store
                    ):
                        names.add(item.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_storefront_hooks_read_no_private_attribute_of_the_core() -> None:
    private = _private_attributes(ROOT / "integrations")
    found = []
    for path in (ROOT / "storefront_hooks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and not (
                    isinstance(node.value, ast.Name)
                    and node.value.id in {"self", "cls"}
                )
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert found == []

"""Imports point one way: pages and ui use core; train and cli use core; core uses none of them, and never
Streamlit.

Read from the source with `ast` (no module is imported), so a violation anywhere in a file counts, inside a
function included: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> top-level names its modules must not import
FORBIDDEN = {
    "core": {"train", "ui", "pages", "streamlit", "bench", "cli"},
    "ui": {"train", "pages", "bench", "cli"},
    "train": {"ui", "pages", "streamlit", "bench", "cli"},
    "cli": {"train", "ui", "pages", "streamlit", "bench"},
}


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_against_the_grain(package):
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(imported_names(path))
        if name.split(".")[0] in FORBIDDEN[package]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    """The rule is only as good as its parser: a lazy `from train.x import y` must be found."""
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from train.dedup import duplicate_groups\n    import streamlit as st\n")
    assert {"train.dedup", "streamlit"} <= imported_names(module)

"""The code's shape, as the README's Architecture section describes it: views typed,
services and forms documented, long modules explained, the sandboxes apart."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("blueprints", "commands", "forms", "models", "sandboxes", "services")
LONG = 500  # lines; a longer module is named in the README with its reason
MIN_DOCUMENTED = 0.62  # of all functions, private ones included
MIN_TYPED = 0.85


def application_files() -> list[Path]:
    """The application's modules: beside app.py, and in its packages."""
    files = sorted(ROOT.glob("*.py"))
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def _is_view(node: ast.FunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call)
        and isinstance(d.func, ast.Attribute)
        and d.func.attr in ("get", "post", "route")
        and isinstance(d.func.value, ast.Name)
        and d.func.value.id.endswith("routes")
        for d in node.decorator_list
    )


def _fully_typed(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    arguments = [a for a in arguments if a.arg not in ("self", "cls")]
    arguments += [a for a in (node.args.vararg, node.args.kwarg) if a]
    return node.returns is not None and all(a.annotation is not None for a in arguments)


def _public_definitions(tree: ast.Module):
    """Top-level functions and classes, and the classes' methods, not named with `_`."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not node.name.startswith("_"):
                yield node
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        if not item.name.startswith("_"):
                            yield item


@dataclass
class Figures:
    functions: int = 0
    documented: int = 0
    typed: int = 0
    views: int = 0
    typed_views: int = 0

    def line(self) -> str:
        return (
            f"{self.functions} functions, {self.documented / self.functions:.0%} with a "
            f"docstring, {self.typed / self.functions:.0%} fully typed, "
            f"{self.typed_views} of {self.views} views with their return type"
        )


def figures() -> Figures:
    """The README's figures, measured over the application's modules."""
    found = Figures()
    for path in application_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.functions += 1
                found.documented += bool(ast.get_docstring(node))
                found.typed += _fully_typed(node)
                if isinstance(node, ast.FunctionDef) and _is_view(node):
                    found.views += 1
                    found.typed_views += node.returns is not None
    return found


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_every_view_declares_its_return_type():
    untyped = [
        f"{_relative(path)}:{node.lineno} {node.name}"
        for path in application_files()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and _is_view(node) and node.returns is None
    ]
    assert untyped == []
    assert figures().views > 100  # the walk sees the views


def test_every_public_function_of_services_and_forms_has_a_docstring():
    undocumented = [
        f"{_relative(path)}:{node.lineno} {node.name}"
        for path in application_files()
        if _relative(path).startswith(("services/", "forms/"))
        for node in _public_definitions(ast.parse(path.read_text()))
        if not ast.get_docstring(node)
    ]
    assert undocumented == []


def test_a_module_over_500_lines_is_named_in_the_readme_with_its_reason():
    readme = (ROOT / "README.md").read_text()
    paragraph = re.search(r"\*\*Modules over 500 lines\*\*(.*?)(?:\n- \*\*|\n\n)", readme, re.S)
    assert paragraph, "the README's Architecture section lists the long modules"
    named = set(re.findall(r"`([\w/]+\.py)`", paragraph.group(1)))
    long = {
        _relative(path) for path in application_files() if len(path.read_text().splitlines()) > LONG
    }
    assert long - named == set(), "name these in the README, with why they are long"
    assert named - long == set(), "these are no longer long: drop them from the README"


def test_the_figures_stay_where_the_readme_puts_them():
    # The README gives the figures as measured (`python -m tests.test_layout`); these are
    # the floors they may not fall under.
    found = figures()
    assert found.documented / found.functions >= MIN_DOCUMENTED, found.line()
    assert found.typed / found.functions >= MIN_TYPED, found.line()
    assert found.typed_views == found.views, found.line()


def test_the_sandboxes_are_apart_from_the_product():
    in_blueprints = [
        _relative(path)
        for path in (ROOT / "blueprints").rglob("*.py")
        if "sandbox" in path.read_text().lower().split("\n", 1)[-1]
        and re.search(r'Blueprint\(\s*"\w*sandbox', path.read_text())
    ]
    assert in_blueprints == []
    mounted = {p.name for p in (ROOT / "sandboxes").iterdir() if (p / "__init__.py").exists()}
    assert mounted == {
        "payment_service",
        "print_service",
        "einvoice_operator",
        "handi_buyer",
        "bank",
    }
    for name in mounted:
        assert (ROOT / "sandboxes" / name / "views.py").exists()
        assert (ROOT / "sandboxes" / name / "templates").is_dir()
        assert "SANDBOX = Sandbox(" in (ROOT / "sandboxes" / name / "__init__.py").read_text()


if __name__ == "__main__":
    print(figures().line())

"""The application's modules import one another without a circle.

Every import statement counts, also one inside a function or under TYPE_CHECKING:
deferring an import hides a circle from Python without removing it. `from package import
name` depends on the submodule when `name` is one, else on the package."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("blueprints", "commands", "forms", "models", "sandboxes", "services")


def application_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the application by its dotted name: the top-level modules beside
    app.py, and the packages' modules."""
    modules = {path.stem: path for path in ROOT.glob("*.py") if not path.name.startswith(".")}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The application module a dotted name lives in, if it is one of ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's application modules, from every import statement in it."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        needed: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                needed.update(filter(None, (_known(a.name, modules) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, module, path.name == "__init__.py")
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    target = submodule if submodule in modules else _known(base, modules)
                    if target:
                        needed.add(target)
        needed.discard(module)
        graph[module] = needed
    return graph


def test_the_walk_sees_the_application():
    modules = application_modules()
    graph = imports(modules)
    assert {"app", "security", "blueprints.training", "sandboxes.payment_service"} <= set(graph)
    assert "blueprints.training.public" in graph["blueprints.training"]
    assert "services.payments.links" in graph["services.training"]


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        return error.args[1]
    return None


def test_no_module_imports_itself_back_through_others():
    circle = _circle(imports(application_modules()))
    assert circle is None, "an import circle: " + " -> ".join(circle or ())


def test_an_import_deferred_into_a_function_still_closes_a_circle(tmp_path):
    services = tmp_path / "services"
    services.mkdir()
    (services / "__init__.py").write_text("")
    (services / "one.py").write_text("from services import two\n")
    (services / "two.py").write_text("def later():\n    from services.one import x\n")
    (tmp_path / "app.py").write_text("import services.one\n")
    graph = imports(application_modules(tmp_path))
    assert graph["services.one"] == {"services.two"}
    assert graph["services.two"] == {"services.one"}
    assert set(_circle(graph) or ()) == {"services.one", "services.two"}

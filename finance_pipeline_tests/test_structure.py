"""The package's structural rules, read from the source: module and function sizes, the asset
names' one home, and which modules may import Dagster or the sandbox."""

import ast
from pathlib import Path

import pytest

from finance_pipeline.registry import ALL_ASSETS

PACKAGE = Path(__file__).resolve().parents[1] / "finance_pipeline"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Plain Python by design: planning, storage and vendor code run (and are tested) without Dagster.
PURE = (
    "calendar.py",
    "registry.py",
    "router",
    "lake",
    "clients",
    "runs/planner.py",
    "runs/specs.py",
    "checks/rules",
    "sandbox",
)
# The only product modules that may start the sandbox: the CLI's sandbox/demo/ui entry points.
SANDBOX_USERS = ("cli/local.py", "demo.py", "ui.py")


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def under(path: Path, prefixes: tuple[str, ...]) -> bool:
    rel = relative(path)
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in prefixes)


def test_the_package_has_modules_to_check():
    assert len(MODULES) > 50
    assert all(under(PACKAGE / p, (p,)) for p in PURE)


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_modules_and_functions_stay_small(path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            length = (node.end_lineno or node.lineno) - first + 1
            assert length <= MAX_FUNCTION_LINES, f"{node.name} is {length} lines"


def test_asset_names_are_spelled_only_in_the_registry():
    spelled = []
    for path in MODULES:
        if relative(path) == "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ALL_ASSETS:
                spelled.append(f"{relative(path)}:{node.lineno} {node.value!r}")
    assert spelled == []


@pytest.mark.parametrize("path", [m for m in MODULES if under(m, PURE)], ids=relative)
def test_pure_modules_never_import_dagster(path):
    modules = imported_modules(ast.parse(path.read_text()))
    assert not {m for m in modules if m.split(".")[0].startswith("dagster")}


def test_product_code_imports_the_sandbox_only_from_its_entry_points():
    importers = {
        relative(path)
        for path in MODULES
        if not under(path, ("sandbox",))
        and any(
            m == "finance_pipeline.sandbox" or m.startswith("finance_pipeline.sandbox.")
            for m in imported_modules(ast.parse(path.read_text()))
        )
    }
    assert importers <= set(SANDBOX_USERS)
    assert importers  # the entry points do start it

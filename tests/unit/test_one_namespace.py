"""Nothing imports a sitestack folder by its folder name (`recipes`, `control`, ...): they install only as
sitestack.<name>. The tests put the checkout on sys.path, where `import control` would still work and
load a second copy of the modules, so this reads the source instead of trusting the imports to fail."""
from __future__ import annotations

import ast

from typecheck import ROOT, package_dirs

# The folders that install as sitestack.<name>: their names alone are not importable once installed.
FOLDERS = {folder.relative_to(ROOT).parts[0] for folder in package_dirs(ROOT).values()} - {"sitestack"}
SOURCES = {*FOLDERS, "tests", "benchmarks", "ansible"}


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in a module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_the_folders_are_the_ones_pyproject_maps() -> None:
    assert FOLDERS == {"recipes", "appserver", "demoapp", "control", "listeners", "worker", "exporter", "backup",
                       "templates"}


def test_no_source_imports_a_folder_by_its_own_name() -> None:
    files = [*ROOT.glob("*.py"), *(path for top in SOURCES for path in (ROOT / top).rglob("*.py"))]
    assert len(files) > 150
    wrong = [f"{path.relative_to(ROOT)}:{line}: {module}"
             for path in files for line, module in imported(ast.parse(path.read_text(), str(path)))
             if module.split(".")[0] in FOLDERS]
    assert wrong == []

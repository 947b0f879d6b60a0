"""The pure cores (codec, state machine) must not reach for the outside world.

They get the clock and randomness injected; they never open sockets or files. This checks
the import graph statically (every import statement in every module of the package), so a
lazy import inside a function is caught as well.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "leasebox"
FORBIDDEN = {"socket", "os", "time", "random", "asyncio", "subprocess", "select", "selectors",
             "threading", "io", "pathlib", "shutil", "tempfile", "signal", "secrets", "ssl"}
PURE_PACKAGES = ["core"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            names.add("__import__")
    return names


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_imports_nothing_impure(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files, f"no modules in leasebox.{package}"
    for path in files:
        bad = _imports(path) & (FORBIDDEN | {"__import__"})
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"

"""The core (wire decoding, estimate, model, policy) imports no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO_LIBRARIES = {"serial", "bleak", "bumble", "paho", "sqlite_utils", "sqlite3", "aiomqtt"}
CORE_MODULES = ["edge/wire.py", "edge/calibration.py", "edge/decode.py", "edge/policy.py"]
CORE_PACKAGES = ["edge/estimate", "edge/model"]


def core_files() -> list[Path]:
    files = [ROOT / name for name in CORE_MODULES if (ROOT / name).exists()]
    for package in CORE_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def local_imports(path: Path) -> set[Path]:
    """Project modules a core file imports, which must themselves be I/O-free."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name.split(".")[0] in ("edge", "firmware_sim", "dashboard"):
                module = ROOT / (name.replace(".", "/") + ".py")
                package = ROOT / name.replace(".", "/") / "__init__.py"
                found |= {p for p in (module, package) if p.exists()}
    return found


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_io_library(path):
    seen: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        bad = imported_roots(current) & IO_LIBRARIES
        assert not bad, f"{current.relative_to(ROOT)} (reached from {path.name}) imports {bad}"
        todo += local_imports(current)


def test_the_check_catches_an_io_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import numpy\nfrom paho.mqtt import client\n")
    assert imported_roots(sample) & IO_LIBRARIES == {"paho"}

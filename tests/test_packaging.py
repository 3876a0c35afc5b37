"""The built wheel holds every module, query and server file of the package.

The repository root is the package ``guanxi`` (``package-dir``), and pyproject.toml
lists its subpackages by name: a new folder such as ``gnn/models/`` must be added
there, or installs outside this checkout would lack it. This builds the wheel and
compares it with the tree.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NOT_PACKAGED = {"tests", "bench", "docs", "data", ".venv", ".guanxi", ".ci", ".git", "build"}


def _package_files() -> set[str]:
    """Every file the wheel must hold, as ``guanxi/<path>``."""
    wanted = set()
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in _NOT_PACKAGED or "__pycache__" in rel.parts or not path.is_file():
            continue
        if rel.parts[0].endswith(".egg-info"):
            continue
        if path.suffix in (".py", ".cypher") or rel.parts[:2] == ("graph", "server"):
            wanted.add(f"guanxi/{rel.as_posix()}")
    return wanted


def test_every_folder_with_modules_is_a_package() -> None:
    for path in _package_files():
        folder = ROOT / Path(path).relative_to("guanxi").parent
        if path.endswith(".py"):
            assert (folder / "__init__.py").exists(), f"{folder} has modules but no __init__.py"


def test_the_wheel_holds_every_module_query_and_server_file(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("guanxi-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        held = set(archive.namelist())
    missing = sorted(_package_files() - held)
    assert not missing, f"pyproject.toml leaves these out of the wheel: {missing}"

"""gnn/no_compiler.py: the model stack loads, and scores, without torch's compiler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch_geometric

from guanxi.gnn.no_compiler import _only_the_check, import_pyg

_STACK = """
import sys
import torch
from guanxi.gnn.no_compiler import import_pyg
stood_in = import_pyg()
import guanxi.gnn.pipeline  # what score and refresh import
from guanxi.gnn.train import _deterministic
import torch_geometric
with _deterministic(0, 1):
    on = torch.are_deterministic_algorithms_enabled()
off = not torch.are_deterministic_algorithms_enabled()
loaded = "torch._dynamo" in sys.modules or "torch._inductor" in sys.modules
linear = torch.nn.Linear(2, 2)
plain = torch_geometric.is_torch_instance(linear, torch.nn.Linear)
compiled = torch.compile(linear)  # wraps it; loads torch._dynamo, compiles nothing yet
through = torch_geometric.is_torch_instance(compiled, torch.nn.Linear)
other = torch_geometric.is_torch_instance(compiled, torch.nn.Conv1d)
print(stood_in, loaded, on, off, plain, through, other)
"""


def test_the_stack_imports_and_runs_deterministically_without_the_compiler() -> None:
    words = subprocess.run([sys.executable, "-c", _STACK], capture_output=True, text=True,
                           check=True).stdout.split()
    stood_in, loaded, on, off, plain, through, other = words
    assert stood_in == "True"
    assert loaded == "False"  # neither PyG nor the deterministic mode loaded it
    assert (on, off) == ("True", "True")
    # PyG's check answers as its own: through a compiled model to the one it wraps.
    assert (plain, through, other) == ("True", "True", "False")


def test_it_stands_in_for_the_module_pyg_ships_only() -> None:
    shipped = Path(torch_geometric.__file__).parent / "isinstance.py"
    assert _only_the_check(shipped)


@pytest.mark.parametrize("source", [
    "def is_torch_instance(obj, cls):\n    return True\n"
    "def another(obj):\n    return obj\n",
    "import torch\nWITH = True\ndef is_torch_instance(obj, cls):\n    return True\n",
    "if True:\n    def is_torch_instance(obj, cls):\n        return True\n",
    "def is_instance(obj, cls):\n    return True\n",
    "def is_torch_instance(obj, cls):\n    return True\nclass Wrapped:\n    pass\n",
    "this is not python(\n",
])
def test_a_module_that_holds_more_or_else_is_imported_as_it_is(tmp_path: Path,
                                                                source: str) -> None:
    module = tmp_path / "isinstance.py"
    module.write_text(source)
    assert not _only_the_check(module)


def test_pyg_imported_already_is_left_alone() -> None:
    # This process imported PyG above: nothing to stand in for.
    assert not import_pyg()

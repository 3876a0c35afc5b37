"""The model stack without torch's compiler.

Two things load ``torch._dynamo`` and ``torch._inductor``, the front and back end of
``torch.compile``, which guanxi never uses: importing PyTorch Geometric, and setting
torch's deterministic mode. Loading them is 0.45-0.5 s of a command that scores
(at 100,000 merchants an incremental refresh imports its model stack, torch, PyG,
pandas and LightGBM, in 2.3 s with the garbage collector off).

**PyG** imports ``torch._dynamo`` for one check only: whether a model is a compiled
one (``torch_geometric.isinstance.is_torch_instance`` unwraps a
``torch._dynamo.OptimizedModule``). A model can only be a compiled one once
``torch._dynamo`` is loaded, so :func:`import_pyg` gives PyG the same check reading
``sys.modules`` instead: the answers are the same, and ``torch._dynamo`` loads when
something uses it (``torch.compile`` imports it). It stands in only for a module that
holds that one function and nothing else (the PyG releases from 2.5 on); any other
is imported as it is.

**Deterministic mode**: ``torch.use_deterministic_algorithms`` imports
``torch._inductor.config`` to pass the mode on to code it compiles. While the
compiler is not loaded nothing is compiled, and :func:`use_deterministic_algorithms`
sets the mode only where it applies.

>>> import torch
>>> _is_torch_instance(torch.nn.Linear(2, 2), torch.nn.Module)
True
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

__all__ = ["import_pyg", "use_deterministic_algorithms"]

_MODULE = "torch_geometric.isinstance"
_FUNCTION = "is_torch_instance"


def import_pyg() -> bool:
    """Import ``torch_geometric`` with :func:`_is_torch_instance` standing in for its
    ``isinstance`` module (module docstring); returns whether it stood in (False:
    PyG was imported already, or its module holds more than that one function)."""
    if "torch_geometric" in sys.modules:
        return False
    spec = importlib.util.find_spec("torch_geometric")  # finds, does not import
    folder = (spec.submodule_search_locations or [None])[0] if spec else None
    if folder is None or not _only_the_check(Path(folder) / "isinstance.py"):
        import torch_geometric  # noqa: F401

        return False
    stand_in = types.ModuleType(_MODULE, _is_torch_instance.__doc__)
    setattr(stand_in, _FUNCTION, _is_torch_instance)
    sys.modules[_MODULE] = stand_in
    try:
        import torch_geometric
    except BaseException:
        sys.modules.pop(_MODULE, None)
        raise
    # What importing the real one would have bound on the package.
    torch_geometric.isinstance = stand_in
    return True


def _only_the_check(path: Path) -> bool:
    """Whether the module at ``path`` defines the one function and nothing else: no
    other function or class, no value; its other statements are imports (at most under
    an ``if``) and its docstring."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    defined = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            defined.append(node.name)
        elif isinstance(node, ast.If):
            if not all(isinstance(n, ast.Import | ast.ImportFrom)
                       for n in (*node.body, *node.orelse)):
                return False
        elif not isinstance(node, ast.Import | ast.ImportFrom | ast.Expr):
            return False
    return defined == [_FUNCTION]


def _is_torch_instance(obj: Any, cls: type | tuple[type, ...]) -> bool:
    """``isinstance(obj, cls)``, looking through a model compiled by ``torch.compile``
    (its ``_orig_mod``), as PyG's own does."""
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is not None and isinstance(obj, dynamo.OptimizedModule):
        return isinstance(obj._orig_mod, cls)
    return isinstance(obj, cls)


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=warn_only)``, without
    loading ``torch._inductor`` when it is not loaded (module docstring)."""
    import torch

    set_mode = getattr(torch._C, "_set_deterministic_algorithms", None)
    if "torch._inductor.config" in sys.modules or set_mode is None:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        set_mode(mode, warn_only=warn_only)

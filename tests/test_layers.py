"""The layering of the code, written down and checked: every import points down this list,
none up, so the flow stays one-directional as the code grows (the job import-linter's
"layers" contract does, as a test of the import graph).

    sweeps                      the study scripts
    reports                     frames -> figures -> pages, from MLflow
    rnn_core.tuning             the one package that imports Ray Tune and MLflow
    rnn_core.serving            a logged model's predictor
    rnn_core.tasks              what a study trains
    rnn_core.training           the one loop, which knows no task by name
    models, cells, data, ...    the parts (and rnn_core.errors beneath everything)

``search_spaces`` is plain data: any layer may read it, and it imports nothing of the project.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sweeps", "reports", "rnn_core", "search_spaces")
LAYERS = ["sweeps", "reports", "rnn_core.tuning", "rnn_core.serving", "rnn_core.tasks",
          "rnn_core.training", "parts", "rnn_core.errors"]


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules ``path`` imports (``from pkg import mod`` as ``pkg.mod``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names}
            out |= (subs & set(modules)) or {node.module}
    return {m for m in out if m.split(".")[0] in PACKAGES}


def _layer(module: str) -> str:
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return "search_spaces" if module.startswith("search_spaces") else "parts"


def test_imports_point_down_the_layers_only():
    modules = _modules()
    upward = []
    for module, path in modules.items():
        here = _layer(module)
        for target in _imports(path, modules):
            there = _layer(target)
            if here == "search_spaces" and there != "search_spaces":
                upward.append(f"{module} -> {target} (search spaces are plain data)")
            elif there in LAYERS and here in LAYERS and LAYERS.index(there) < LAYERS.index(here):
                upward.append(f"{module} ({here}) -> {target} ({there})")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def test_the_check_sees_an_import_up_the_layers(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from rnn_core.tasks import get_task\nfrom rnn_core import training\n")
    assert _imports(bad, _modules()) == {"rnn_core.tasks", "rnn_core.training"}
    assert _layer("rnn_core.tasks") == "rnn_core.tasks"
    assert LAYERS.index(_layer("rnn_core.tasks")) < LAYERS.index(_layer("rnn_core.training"))
    assert _layer("rnn_core.models") == _layer("rnn_core.data") == "parts"


def _private_reach(importer: str, target: str) -> bool:
    """Whether ``importer`` reaches into a private module of a package it is not part of
    (``bench.x`` -> ``rnn_core.tuning._search``); a package's own modules may share them."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            return not (importer == owner or importer.startswith(owner + "."))
    return False


def test_no_module_reaches_into_another_packages_private_modules():
    """Optuna's habit: a package's ``_private`` modules sit behind its ``__all__`` facade and
    no sibling package imports them; the benchmarks are users of the packages like any other.
    Tests may (they test the private parts themselves)."""
    modules = _modules()
    for path in (ROOT / "bench").rglob("*.py"):
        modules[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] \
            = path
    reach = []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            reach += [f"{module} -> {t}" for t in targets
                      if t.split(".")[0] in (*PACKAGES, "bench") and _private_reach(module, t)]
    assert not reach, "private modules imported from outside their package:\n" + "\n".join(
        sorted(reach))


def test_the_check_sees_a_reach_into_a_private_module():
    assert _private_reach("bench.scale_parts", "rnn_core.tuning._search.make_sampler")
    assert _private_reach("rnn_core.tasks.audio", "rnn_core.tuning._sweep")
    assert not _private_reach("rnn_core.tuning._sweep", "rnn_core.tuning._outbox.Outbox")
    assert not _private_reach("rnn_core.cells", "rnn_core._cell_autograd.ElmanFn")
    assert not _private_reach("bench.scale", "rnn_core.tuning.PromotionASHA")

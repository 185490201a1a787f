"""Ray, Optuna and MLflow internals: each reached through its library's one adapter
(``rnn_core/tuning/_compat_ray.py``, ``_compat_optuna.py``, ``_compat_mlflow.py``), whose checks
pass against the pinned versions and name the library, its version and the internal when one
is gone; and no private name of these libraries anywhere else in the product code."""

from __future__ import annotations

import ast
from pathlib import Path

import mlflow
import optuna
import pytest
import ray

from rnn_core.errors import IncompatibleLibrary
from rnn_core.tuning import _compat_mlflow, _compat_optuna, _compat_ray

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("ray", "optuna", "mlflow")
# the product's packages; bench/sim drives Ray's scheduler API with a fake controller of its
# own (its ``_set_trial_status`` is that controller's method), and bench/ is not product code
SCANNED = ("rnn_core", "sweeps", "reports")
# private names of Ray, Optuna and MLflow objects (attributes, methods, classes, modules)
# that product code has used or would reach for; an import of a private module or name of
# these libraries is caught whatever its name
PRIVATE = frozenset({
    # Ray
    "_private", "_global_node", "_local_tuner", "_remote_tuner", "_run_config",
    "_tune_config", "_experiment_analysis", "_fit_resume", "_get_tune_run_arguments",
    "_set_trial_status", "_Bracket", "_hyperbands", "_trial_info", "_metric", "_mode",
    "_metric_op", "_supports_buffered_results", "_ot_study", "_ot_trials", "_study_name",
    # Optuna
    "_get_trials", "_trial_id", "_storage", "_study_id", "_thread_local",
    "_cached_frozen_trial",
    # MLflow
    "_all_tables_exist", "_initialize_tables", "_initialize_store_state",
    "_create_default_experiment", "_tracking_client", "_get_store",
})


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for every private Ray, Optuna or MLflow name in ``source``: imports of
    their private modules or names, and uses of the names in ``PRIVATE`` (attribute reads
    and writes, ``getattr``-style strings, methods overridden, class attributes set)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""])
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            for module in modules:
                if module.split(".")[0] not in LIBRARIES:
                    continue
                if any(_is_private(part) for part in module.split(".")):
                    found.append((node.lineno, f"import {module}"))
                found += [(node.lineno, f"from {module} import {n}") for n in names
                          if _is_private(n)]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE:
            found.append((node.lineno, f".{node.attr}"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
              and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
              and node.args[1].value in PRIVATE):
            found.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in PRIVATE:
            found.append((node.lineno, f"def {node.name}"))
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets = (stmt.targets if isinstance(stmt, ast.Assign) else
                           [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
                found += [(stmt.lineno, f"{node.name}.{t.id} =") for t in targets
                          if isinstance(t, ast.Name) and t.id in PRIVATE]
    return found


def _product_files(root: Path) -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((root / top).rglob("*.py")):
            files.append(path)
    return files


def count_private_uses(root: Path) -> dict[str, list[tuple[int, str]]]:
    """Private third-party names by file (relative path) under ``root``'s product code."""
    out = {}
    for path in _product_files(root):
        uses = private_uses(path.read_text())
        if uses:
            out[str(path.relative_to(root))] = uses
    return out


# -- the scan itself


def test_the_scan_finds_each_kind_of_private_use():
    source = """
import ray._private.worker
from ray._private import worker
from ray.tune.schedulers.hyperband import _Bracket
from optuna.samplers._tpe import sampler
from mlflow.store.db.utils import _all_tables_exist
from os import _exit
tuner._local_tuner._run_config.callbacks = []
node = getattr(worker, "_global_node", None)
class View(Study):
    _supports_buffered_results = False
    def _get_trials(self): return super()._get_trials()
ids = [t._trial_id for t in self._ot_trials.values()]
self._orphans = []
"""
    found = {what for _, what in private_uses(source)}
    assert found == {
        "import ray._private.worker", "import ray._private",
        "from ray.tune.schedulers.hyperband import _Bracket", "import optuna.samplers._tpe",
        "from mlflow.store.db.utils import _all_tables_exist", "._local_tuner", "._run_config",
        "getattr(..., '_global_node')", "View._supports_buffered_results =",
        "def _get_trials", "._get_trials", "._trial_id", "._ot_trials"}, found


def test_private_names_of_ray_optuna_and_mlflow_only_in_their_adapters():
    uses = count_private_uses(ROOT)
    adapters = {f for f in uses if Path(f).name.startswith("_compat_")}
    outside = {f: u for f, u in uses.items() if f not in adapters}
    assert not outside, ("private Ray/Optuna/MLflow names outside rnn_core/tuning/_compat_*.py "
                         f"(go through the library's adapter): {outside}")
    every_adapter = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("**/_compat_*.py")
                           if p.relative_to(ROOT).parts[0] in SCANNED)
    assert len(every_adapter) <= 3, every_adapter
    assert every_adapter == ["rnn_core/tuning/_compat_mlflow.py",
                             "rnn_core/tuning/_compat_optuna.py",
                             "rnn_core/tuning/_compat_ray.py"]
    assert adapters == set(every_adapter)  # each holds what its library has no public API for


# -- the checks against the pinned versions


def test_every_adapter_check_passes_on_the_pinned_versions():
    _compat_ray.check()
    _compat_optuna.check()
    _compat_mlflow.check()


def _names(exc: pytest.ExceptionInfo, library: str, version: str, internal: str) -> None:
    text = str(exc.value)
    assert text.startswith(f"{library} {version}: "), text
    assert internal in text, text


# -- Ray


def _tune_controller():
    from ray.tune.execution.tune_controller import TuneController

    return TuneController


# (where, the internal, the name the error gives, an adapter call that needs it, or None)
GONE = [
    (lambda: __import__("ray._private.worker", fromlist=["worker"]), "_global_node",
     "ray._private.worker._global_node", lambda: _compat_ray.started_local_instance()),
    (lambda: __import__("ray.tune.schedulers.hyperband", fromlist=["hyperband"]), "_Bracket",
     "ray.tune.schedulers.hyperband._Bracket", None),
    (_tune_controller, "_set_trial_status", "TuneController._set_trial_status",
     lambda: _compat_ray.set_trial_status(object(), None, "PAUSED")),
    (lambda: __import__("ray.tune.execution.class_cache", fromlist=["class_cache"]),
     "DEFAULT_ENV_VARS", "class_cache.DEFAULT_ENV_VARS",
     lambda: _compat_ray.share_prestarted_workers()),
]


@pytest.mark.parametrize("where, attr, named, call", GONE, ids=[g[1] for g in GONE])
def test_ray_check_names_a_missing_internal(monkeypatch, where, attr, named, call):
    monkeypatch.delattr(where(), attr)
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_ray.check()
    _names(exc, "Ray", ray.__version__, named)
    if call is not None:
        with pytest.raises(IncompatibleLibrary):
            call()


def test_ray_check_names_a_restored_tuner_without_its_configs(monkeypatch):
    from ray.tune.impl.tuner_internal import TunerInternal

    real = TunerInternal._get_tune_run_arguments

    def renamed(self, trainable):  # a Ray that reads its callbacks from elsewhere
        return real(self, trainable)

    monkeypatch.setattr(TunerInternal, "_get_tune_run_arguments", renamed)
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_ray.check()
    _names(exc, "Ray", ray.__version__, "self._run_config.callbacks")
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_ray.give_restored_tuner(object(), [], 0)
    _names(exc, "Ray", ray.__version__, "Tuner._local_tuner")


def test_ray_check_names_optuna_search_without_its_study(monkeypatch):
    from ray.tune.search.optuna import OptunaSearch

    real = OptunaSearch._setup_study

    def elsewhere(self, mode):  # a Ray that keeps the study under another name
        real(self, mode)
        self._study = vars(self).pop("_ot_study")

    monkeypatch.setattr(OptunaSearch, "_setup_study", elsewhere)
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_ray.check()
    _names(exc, "Ray", ray.__version__, "OptunaSearch._ot_study")


def test_ray_check_names_a_node_that_no_longer_reads_its_switches(monkeypatch):
    from ray._private.node import Node

    real = Node.start_head_processes

    def always_monitored(self):  # a Ray whose head node reads no switch for its monitor
        return real(self)

    monkeypatch.setattr(Node, "start_head_processes", always_monitored)
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_ray.check()
    _names(exc, "Ray", ray.__version__, "self._ray_params.no_monitor")
    with pytest.raises(IncompatibleLibrary), _compat_ray.lean_local_instance():
        pass


# -- Optuna


def test_optuna_check_names_a_missing_get_trials(monkeypatch):
    from optuna.study import Study

    monkeypatch.delattr(Study, "_get_trials")
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_optuna.check()
    _names(exc, "Optuna", optuna.__version__, "Study._get_trials")


def test_optuna_check_names_get_trials_without_use_cache(monkeypatch):
    from optuna.study import Study

    real = Study._get_trials
    monkeypatch.setattr(Study, "_get_trials",
                        lambda self, deepcopy=True, states=None: real(self, deepcopy, states))
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_optuna.check()
    _names(exc, "Optuna", optuna.__version__, "Study._get_trials")
    assert "use_cache" in str(exc.value)


def test_optuna_check_names_a_tpe_that_reads_trials_otherwise(monkeypatch):
    from optuna.samplers import TPESampler

    monkeypatch.setattr(TPESampler, "sample_independent",
                        lambda self, study, trial, name, dist: 0.5)
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_optuna.check()
    _names(exc, "Optuna", optuna.__version__, "TPESampler")


def test_optuna_check_names_a_trial_without_its_storage_id():
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_optuna.trial_id(object())
    _names(exc, "Optuna", optuna.__version__, "object._trial_id")


# -- MLflow


def test_mlflow_check_names_a_missing_internal(monkeypatch, tmp_path):
    from mlflow.store.db import utils
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    monkeypatch.delattr(utils, "_all_tables_exist")
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_mlflow.check()
    _names(exc, "MLflow", mlflow.__version__, "mlflow.store.db.utils._all_tables_exist")
    monkeypatch.undo()
    monkeypatch.delattr(SqlAlchemyStore, "_create_default_experiment")
    with pytest.raises(IncompatibleLibrary) as exc:  # before any store is made
        _compat_mlflow.seed_sqlite_store(tmp_path / "m.db", tmp_path / "templates")
    _names(exc, "MLflow", mlflow.__version__, "SqlAlchemyStore._create_default_experiment")
    assert not list(tmp_path.iterdir())


def test_mlflow_check_names_a_requirement_check_without_its_module_map(monkeypatch):
    from mlflow.utils import requirements_utils

    monkeypatch.delattr(requirements_utils, "_MODULES_TO_PACKAGES")
    with pytest.raises(IncompatibleLibrary) as exc:
        _compat_mlflow.check()
    _names(exc, "MLflow", mlflow.__version__, "requirements_utils._MODULES_TO_PACKAGES")
    with pytest.raises(IncompatibleLibrary), _compat_mlflow.pinned_requirements(["torch"]):
        pass

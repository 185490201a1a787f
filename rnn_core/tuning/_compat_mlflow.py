"""Every MLflow internal rnn-sweeps relies on, and nothing else: where MLflow has no public API
for what a sweep needs, the private access is made here, behind a guard that names MLflow's
version and the internal when it is gone or has changed shape, so that an MLflow release that
moves one fails loudly here rather than leaving a store subtly different from its own.

``check()`` checks every internal at once (``tests/test_compat.py`` runs it against the pinned
version); ``seed_sqlite_store`` also checks them when it is called.

What has no public API in MLflow 3.17, and why it is needed:

- A new SQLite store starts as a copy of an empty one (``seed_sqlite_store``): MLflow builds
  a store by creating its first schema and running every migration since (~1.3 s, a tenth of
  a smoke sweep's start); the copy takes milliseconds. The copy is MLflow's own build with its
  Default experiment deleted from MLflow's experiments table (``SqlExperiment``), so that the
  store makes that experiment again when it opens the copy, with this store's artifact
  location and time; it relies on the store taking a file that holds every table as it is
  (``mlflow.store.db.utils._all_tables_exist``) and making a missing Default experiment
  (``SqlAlchemyStore._initialize_store_state`` with ``_create_default_experiment``).
  MLflow's client can only mark the Default experiment deleted, which the store keeps.
- Saving a model, MLflow checks its pip requirements against this environment, and first maps
  every installed distribution to its modules (``importlib.metadata.packages_distributions``,
  which reads and stats every file of every distribution: ~1 s, once per process) into
  ``mlflow.utils.requirements_utils._MODULES_TO_PACKAGES``; a sweep's models pin the versions
  installed here, which always match, so ``pinned_requirements`` gives MLflow a map of just
  those packages while they are saved (it reads each one's version as before).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NoReturn

from rnn_core.errors import IncompatibleLibrary

__all__ = ["check", "seed_sqlite_store", "pinned_requirements"]

_SEED = "start a new SQLite store as a copy of an empty one (rnn_core/tuning/_tracking.py)"
_PINNED = ("save a sweep's models without MLflow mapping every installed distribution "
           "(rnn_core/tuning/_models.py)")


def _fail(internal: str, problem: str, purpose: str = _SEED) -> NoReturn:
    import mlflow

    raise IncompatibleLibrary(
        f"MLflow {mlflow.__version__}: {internal} {problem}; rnn-sweeps relies on it to "
        f"{purpose}. Install the MLflow version pyproject.toml pins, or adapt "
        "rnn_core/tuning/_compat_mlflow.py to this one.")


def _experiments_table() -> str:
    """The name of MLflow's experiments table, after checking the internals the copy uses."""
    from mlflow.store.db import utils as db_utils
    from mlflow.store.tracking.dbmodels import models as dbmodels
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    if not callable(getattr(db_utils, "_all_tables_exist", None)):
        _fail("mlflow.store.db.utils._all_tables_exist", "is gone")
    for name in ("_initialize_store_state", "_create_default_experiment"):
        if not callable(getattr(SqlAlchemyStore, name, None)):
            _fail(f"SqlAlchemyStore.{name}", "is gone")
    if "_create_default_experiment" not in inspect.getsource(
            SqlAlchemyStore._initialize_store_state):
        _fail("SqlAlchemyStore._initialize_store_state",
              "no longer makes a missing Default experiment")
    table = getattr(getattr(dbmodels, "SqlExperiment", None), "__tablename__", None)
    if not isinstance(table, str):
        _fail("mlflow.store.tracking.dbmodels.models.SqlExperiment.__tablename__", "is gone")
    return table


def seed_sqlite_store(db: Path, templates: Path) -> None:
    """Start the new SQLite store ``db`` as a copy of an empty one MLflow made earlier (same
    version), kept in the folder ``templates``.

    The cached copy holds MLflow's tables, its schema version and default workspace, and no
    experiment: MLflow adds the Default experiment when it opens the store, as it does for one
    it just built. A failure to read or write a file leaves the store to MLflow.
    """
    import sqlite3

    import mlflow
    from mlflow.tracking import MlflowClient

    table = _experiments_table()
    try:
        template = templates / f"mlflow-{mlflow.__version__}.db"
        if not template.exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            tmp = template.with_name(f"{template.stem}.{os.getpid()}.tmp")
            MlflowClient(f"sqlite:///{tmp}").search_experiments()  # MLflow builds its schema
            with contextlib.closing(sqlite3.connect(tmp)) as con, con:
                con.execute(f'DELETE FROM "{table}"')  # the Default one, made at open
            os.replace(tmp, template)  # atomic: concurrent first sweeps each make their own
        part = db.with_name(f".{db.name}.{os.getpid()}.part")
        shutil.copyfile(template, part)
        os.replace(part, db)
    except (OSError, sqlite3.Error):
        return


def _requirements_utils():
    """MLflow's ``requirements_utils``, after checking that its requirement check builds its
    module map only where none is set."""
    from mlflow.utils import requirements_utils as utils

    if "_MODULES_TO_PACKAGES" not in vars(utils):
        _fail("mlflow.utils.requirements_utils._MODULES_TO_PACKAGES", "is gone", _PINNED)
    for name, reads in (("_init_modules_to_packages_map", "if _MODULES_TO_PACKAGES is None"),
                        ("_check_requirement_satisfied", "_init_packages_to_modules_map()")):
        fn = getattr(utils, name, None)
        if not callable(fn) or reads not in inspect.getsource(fn):
            _fail(f"mlflow.utils.requirements_utils.{name} with {reads!r}", "is gone", _PINNED)
    return utils


@contextlib.contextmanager
def pinned_requirements(packages: Iterable[str]) -> Iterator[None]:
    """While models whose pip requirements pin this environment's ``packages`` are saved:
    MLflow's map of installed modules holds just those (and MLflow), instead of one built from
    every installed distribution. A map this process built already is left as it is."""
    utils = _requirements_utils()
    if utils._MODULES_TO_PACKAGES is not None:
        yield
        return
    utils._MODULES_TO_PACKAGES = {p: [p] for p in (*packages, "mlflow")}
    try:
        yield
    finally:
        utils._MODULES_TO_PACKAGES = None  # built in full where anything else needs it


def check() -> None:
    """Check every MLflow internal this package uses; IncompatibleLibrary names the first
    missing. (That a seeded store is the one MLflow builds, row for row, is
    ``tests/test_tracking.py``'s to show: it builds two stores, seconds.)"""
    _experiments_table()
    _requirements_utils()

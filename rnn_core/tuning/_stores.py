"""Where a sweep's search state lives: the Optuna study's database, checked before any work,
and the stores a resumed sweep is given, checked to hold the sweep it continues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnn_core.errors import ConfigError
from rnn_core.tuning._mlflow_errors import first_line


def public_url(url: str) -> str:
    """A database URL without its password: what a run's params, the sweep's saved state and
    the console show (the driver that resumes reads the password from the environment,
    ``PGPASSWORD`` or ``~/.pgpass``, or from ``--optuna-storage`` given again)."""
    from sqlalchemy.engine import URL, make_url

    try:
        parsed = make_url(url)
    except Exception:  # not a URL: nothing to hide, and the check names it
        return url
    if not parsed.password:
        return url
    return URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port,
                      parsed.database, parsed.query).render_as_string()


def check_optuna_storage(url: str, study: str | None = None) -> None:
    """The Optuna storage ``url`` (any SQLAlchemy URL) can be opened from here, and holds
    ``study`` where one is named: one sentence naming the URL and what is wrong otherwise.
    Nothing is created: a database without Optuna's tables holds no study."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    shown = public_url(url)
    try:
        parsed = make_url(url)
    except Exception:  # SQLAlchemy raises ArgumentError, or ValueError for a bad port
        raise ConfigError(f"--optuna-storage {shown} is not a database URL; expected a "
                          "SQLAlchemy URL such as postgresql://user@host:5432/optuna or "
                          "sqlite:////path/optuna.db") from None
    if parsed.get_backend_name() == "sqlite":
        db = Path(parsed.database or "")
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError(f"--optuna-storage {shown}: an in-memory study is lost when the "
                              "driver ends; expected a file or a database server")
        if not db.resolve().parent.is_dir():
            raise ConfigError(f"--optuna-storage {shown}: folder {db.resolve().parent} does "
                              "not exist")
        if study is None:
            return  # a new study file: Optuna makes it
    try:
        parsed.get_dialect().import_dbapi()
    except Exception as exc:
        raise ConfigError(f"--optuna-storage {shown}: no database driver for "
                          f"{parsed.drivername} is installed ({first_line(exc)})") from None
    args = {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}
    engine = sqlalchemy.create_engine(parsed, connect_args=args)
    try:
        with engine.connect() as con:
            if study is not None and not _holds(con, study):
                raise ConfigError(f"--optuna-storage {shown} holds no Optuna study {study}; "
                                  "give the storage the sweep started with")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise ConfigError(f"--optuna-storage {shown} cannot be opened: "
                          f"{first_line(exc.orig or exc)}") from None
    finally:
        engine.dispose()


def _holds(con, study: str) -> bool:
    """Whether the database behind ``con`` holds the Optuna study ``study``, read with
    Optuna's own storage and its tables left as they are (where it has none, Optuna fails
    to read them: no study)."""
    import optuna

    storage = optuna.storages.RDBStorage(con.engine.url.render_as_string(hide_password=False),
                                         skip_compatibility_check=True,
                                         skip_table_creation=True)
    try:
        return study in {s.study_name for s in storage.get_all_studies()}
    except optuna.exceptions.StorageInternalError:
        return False
    finally:
        storage.engine.dispose()


def check_resumed_stores(meta: dict, tracking_uri: str,
                         optuna_storage: str | None) -> tuple[Any, str]:
    """A resumed sweep's tracking store holds its parent run, and its Optuna storage its
    study, whichever URIs this driver was given (a server that moved, a database restored
    elsewhere): one sentence otherwise, before any work.

    Returns:
        (MlflowClient, experiment_id), as ``check_tracking``.
    """
    from rnn_core.tuning._tracking import check_tracking

    client, exp_id = check_tracking(tracking_uri, meta["experiment_name"])
    parent = meta["parent_run_id"]
    try:
        run = client.get_run(parent)
    except Exception:  # MLflow raises its own type for an unknown id
        run = None
    if run is None or run.data.tags.get("sweep") != "parent":
        raise ConfigError(f"--tracking-uri {tracking_uri} holds no sweep {parent}: the sweep "
                          f"was tracked in {meta['tracking_uri']}")
    if "optuna_study" in meta:
        check_optuna_storage(optuna_storage or meta["optuna_storage"], meta["optuna_study"])
    return client, exp_id

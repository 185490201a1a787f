"""A sweep's winners as MLflow models that take raw input; the validation pick registered.

Each model is an MLflow ``python_function`` model (``loader_module`` ``rnn_core.serving``)
logged on its trial's run: the trial's ``best.pt``, the task's vocabulary and preprocessing
(``Task.serving.bundle``), a copy of ``rnn_core`` (so it loads where this checkout is not),
its signature and an input example. Written on the driver without torch: the checkpoint is
copied as a file, and the signature comes from the task, not from running the model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

from rnn_core.errors import ConfigError
from rnn_core.tasks import task_keys, task_of
from rnn_core.tuning._tracking import client_for

log = logging.getLogger(__name__)
MODEL_TAG = "registered_model"  # on the parent run and the pick's run: "<name>/<version>"
CHAMPION = "champion"  # the alias of a registered name's newest validation pick
_REQUIREMENTS = ("torch", "numpy", "pandas")


def model_name(run_name: str) -> str:
    """A run name as a logged model's name: MLflow refuses ``/ : . % " '`` in those, and a
    sampled search's run names carry values like ``lr0.0031`` (``p`` for the point)."""
    return re.sub(r"[/:%\"']", "_", run_name.replace(".", "p"))


def log_models(
    tracking_uri: str, parent_run_id: str, study: str, data, run_ids: list[str]
) -> list[dict]:
    """Log the trials ``run_ids`` as models; register the first (the validation pick) under
    ``registered_name`` (study and preset) and point the ``champion`` alias at it.

    Args:
        data: the sweep's prepared data (its vocabulary goes into every model).
        run_ids: child runs, the validation pick first (``reports.frames.model_picks``).

    Returns:
        One dict per logged model: run_id, run_name, model_id, uri (and name, version for
        the registered one). Empty when the task has no raw-input model (``Task.serving``).
    """
    client = client_for(tracking_uri)
    parent = client.get_run(parent_run_id)
    task = task_of(parent.data.tags)
    if task.serving is None:
        log.info("task %s has no raw-input model (Task.serving): no model logged", task.name)
        return []
    # the checkpoint downloads are small and local: no progress bars between the console lines
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow.pyfunc
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model

    from rnn_core import serving
    from rnn_core.tuning._compat_mlflow import pinned_requirements

    bundle = {"format": serving.FORMAT, **task_keys(task), **task.serving.bundle(data)}
    logged: list[dict] = []
    # the requirements pin the versions installed here: MLflow need not map every installed
    # distribution to check them against this environment (~1 s)
    with tempfile.TemporaryDirectory() as tmp, pinned_requirements(_REQUIREMENTS):
        code = Path(tmp, "code", "rnn_core")
        shutil.copytree(
            Path(serving.__file__).parent,
            code,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        for run_id in run_ids:
            run = client.get_run(run_id)
            ckpt = [a.path for a in client.list_artifacts(run_id, "checkpoint")]
            if "checkpoint/best.pt" not in ckpt:
                log.info("trial %s has no best.pt: no model logged", run.info.run_name)
                continue
            pick = not logged
            folder = Path(tmp, run_id)
            data_dir = folder / "data"
            data_dir.mkdir(parents=True)
            best = client.download_artifacts(run_id, "checkpoint/best.pt", str(folder))
            shutil.move(best, data_dir / serving.CHECKPOINT)
            (data_dir / serving.BUNDLE).write_text(json.dumps(bundle), encoding="utf-8")
            tags = _model_tags(run, parent_run_id, study, task, pick)
            model = client.create_logged_model(
                run.info.experiment_id,
                name=model_name(run.info.run_name),
                source_run_id=run_id,
                tags=tags,
                params=dict(run.data.params),
            )
            mlflow.pyfunc.save_model(
                str(folder / "model"),
                loader_module="rnn_core.serving",
                data_path=str(data_dir),
                code_paths=[str(code)],
                mlflow_model=Model(
                    artifact_path=model.artifact_location,
                    run_id=run_id,
                    model_uuid=model.model_id,
                    model_id=model.model_id,
                ),
                signature=_signature(task),
                input_example=_example(task, data),
                # the public release ("2.13.0", not "2.13.0+cpu"): pip finds it on PyPI
                pip_requirements=[f"{p}=={version(p).split('+')[0]}" for p in _REQUIREMENTS],
                metadata={"task": task.name, "study": study, "sweep": parent_run_id},
            )
            client.log_model_artifacts(model.model_id, str(folder / "model"))
            client.finalize_logged_model(model.model_id, "READY")
            client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
            entry = {
                "run_id": run_id,
                "run_name": run.info.run_name,
                "model_id": model.model_id,
                "uri": f"models:/{model.model_id}",
            }
            if pick:
                name = registered_name(study, parent.data.params.get("preset"))
                entry.update(_register(client, name, task, model, tags))
                for rid in (parent_run_id, run_id):
                    client.set_tag(rid, MODEL_TAG, f"{entry['name']}/{entry['version']}")
            logged.append(entry)
    return logged


def registered_name(study: str, preset: str | None) -> str:
    """The registry name of a sweep's pick: the study and its preset, so a smoke run's model
    never becomes a version of the full study's (``compound_scaling-quick``)."""
    return f"{study}-{preset}" if preset else study


def _model_tags(run, parent_run_id: str, study: str, task, pick: bool) -> dict[str, str]:
    metrics = {
        k: run.data.metrics[k]
        for k in (task.best_metric, task.test_metric, "n_params")
        if k in run.data.metrics
    }
    return {
        "sweep": parent_run_id,
        "study": study,
        "task": task.name,
        "trial": run.info.run_name,
        "trial_run_id": run.info.run_id,
        "objective": task.objective,
        "trial_status": run.data.tags.get("trial_status", ""),
        "role": "validation_pick" if pick else "pareto_front",
        **{k: str(int(v)) if k == "n_params" else str(v) for k, v in metrics.items()},
    }


def _register(client, name: str, task, model, tags: dict) -> dict:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name,
            tags={"task": task.name},
            description=(
                f"The validation pick of each {name} sweep ({task.objective}, {task.mode}): "
                f"raw {task.serving.input} in, a prediction out"
            ),
        )
    # the source is where the model's files are, not models:/<id>: MLflow resolves that
    # with the process's global tracking URI, not this client's
    mv = client.create_model_version(
        name,
        source=model.artifact_location,
        run_id=model.source_run_id,
        tags=tags,
        model_id=model.model_id,
        description=(f"trial {tags['trial']} of sweep {tags['sweep']}"),
    )
    client.set_registered_model_alias(name, CHAMPION, str(mv.version))
    return {"name": name, "version": str(mv.version)}


def _signature(task):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    # "any", not "string": MLflow would refuse a whole input whose column pandas read as
    # numbers or as all empty (a CSV of "12345" or of blank cells); the predictor answers
    # each such row with one sentence instead
    return ModelSignature(
        inputs=Schema([ColSpec(AnyType(), task.serving.input)]),
        outputs=Schema([ColSpec(kind, name) for name, kind in task.serving.outputs]),
    )


def _example(task, data):
    import pandas as pd

    return pd.DataFrame({task.serving.input: list(task.serving.examples(data))})


def model_usage(
    tracking_uri: str, parent_run_id: str | None = None, experiment_name: str | None = None
) -> str:
    """How to load, predict with and serve the model a sweep registered (its newest sweep in
    ``experiment_name`` when ``parent_run_id`` is None)."""
    from rnn_core.tuning._records import newest_sweep

    client = client_for(tracking_uri)
    parent = client.get_run(parent_run_id or newest_sweep(client, experiment_name))
    registered = parent.data.tags.get(MODEL_TAG)
    task = task_of(parent.data.tags)
    if registered is None:
        reason = (
            "its task has no raw-input model (rnn_core.tasks.Task.serving); the trials' "
            "checkpoints are in their runs"
            if task.serving is None
            else "no trial finished with a checkpoint"
        )
        raise ConfigError(f"sweep {parent.info.run_id} registered no model: {reason}")
    name, _, ver = registered.rpartition("/")
    mv = client.get_model_version(name, ver)
    champion = client.get_registered_model(name).aliases.get(CHAMPION)
    champion = None if champion is None else str(champion)  # MLflow gives the version as int
    uri = f"models:/{name}@{CHAMPION}" if champion == ver else f"models:/{name}/{ver}"
    store = _absolute(tracking_uri)
    metrics = ", ".join(
        f"{k} {float(mv.tags[k]):.4f}" for k in (task.best_metric, task.test_metric) if k in mv.tags
    )
    column = task.serving.input
    # an example that depends on the data (a series' channels) is described, not shown
    example = (repr(task.serving.example[-1]) if not callable(task.serving.example)
               else column.upper())
    csv = f"{column}.csv" if column.endswith("s") else f"{column}s.csv"  # series.csv
    lines = [
        f"registered model {name} version {ver}: trial {mv.tags.get('trial')} ({metrics}) of "
        f"sweep {parent.info.run_id}"
        + (f" (alias {CHAMPION})" if champion == ver
           else f"; {CHAMPION} is now version {champion}, a newer sweep's pick" if champion
           else ""),
        f"  export MLFLOW_TRACKING_URI={store}",
        f"  python: mlflow.pyfunc.load_model({uri!r}).predict("
        f"pandas.DataFrame({{{column!r}: [{example}]}}))",
        f"  CSV:    mlflow models predict -m {uri} -i {csv} -t csv --env-manager local",
        f"          ({csv}: a {column} column, one row each)",
        f"  serve:  mlflow models serve -m {uri} --env-manager local --port 5001",
    ]
    front = [
        m
        for m in client.search_logged_models(
            [parent.info.experiment_id], filter_string=f"tags.sweep = '{parent.info.run_id}'"
        )
        if m.tags.get("role") == "pareto_front"
    ]
    if front:
        lines.append(
            "other Pareto-front models: "
            + ", ".join(f"models:/{m.model_id} ({m.name})" for m in front)
        )
    return "\n".join(lines)


def _absolute(tracking_uri: str) -> str:
    """A SQLite store's URI with an absolute path, usable from any folder."""
    if tracking_uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(tracking_uri[len('sqlite:///') :]).resolve()}"
    return tracking_uri

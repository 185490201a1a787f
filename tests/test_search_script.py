"""``sweeps/search.py``: one script sweeps any task that has a search space, a user's own task
included (``--space``), with the task's own data options on its command line."""

from __future__ import annotations

import subprocess
import textwrap

from tests._sweeps import ROOT, run_study


def _run(*args: str, path: str = "") -> subprocess.CompletedProcess:
    return run_study("search", *args, own="--help and refusals: no sweep starts", timeout=120,
                     cwd=ROOT, env={"PYTHONPATH": f"{ROOT}:{path}"})


def test_it_offers_every_task_with_a_space_and_each_task_its_own_options():
    bare = _run("--help")
    assert bare.returncode == 0
    choices = bare.stdout[bare.stdout.index("--task {") + 8:].split("}", 1)[0].split(",")
    assert set(choices) >= {"text_classification", "language_model",
                            "sequence_classification", "sequence_regression"}
    text = _run("--task", "text_classification", "--help")
    assert text.returncode == 0 and "--text-column TEXT_COLUMN" in text.stdout
    series = _run("--task", "sequence_classification", "--help")
    assert "--dataset DATASET" in series.stdout and "TEXT_COLUMN" not in series.stdout


def test_a_task_of_ones_own_is_swept_through_its_space_module(tmp_path):
    """A task and its space in a user's package: search.py reads its option, refuses a bad
    value in one sentence, and never needs an edit."""
    pkg = tmp_path / "mine"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "task.py").write_text(textwrap.dedent('''
        from rnn_core.tasks import Task, TaskOption, register

        def positive(text):
            value = int(text)
            if value < 1:
                raise ValueError("expected a whole number of 1 or more")
            return value

        TASK = register(Task(
            name="my_counts", objective="val_acc", mode="max", trainer="mine.task:Nothing",
            prepare=lambda path, seed, options: (None, {}),
            data_options=lambda grid, base: {"window": base.get("window", 3)},
            name_keys=(("hidden_size", "H"),),
            options=(TaskOption("--window", "window", "readings per window", positive),)),
            __name__)
    '''))
    (pkg / "space.py").write_text(textwrap.dedent('''
        import mine.task  # noqa: F401  (registers the task)

        TASK = "my_counts"
        GRID = {"hidden_size": [8, 16]}
        RECIPE = {}
        PRESETS = {"full": {"max_epochs": 1}, "smoke": {"max_epochs": 1}}
    '''))
    shown = _run("--space", "mine.space", "--help", path=str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "--window WINDOW" in shown.stdout and "readings per window" in shown.stdout
    bad = _run("--space", "mine.space", "--window", "0", path=str(tmp_path))
    assert bad.returncode == 2
    assert "argument --window: '0': expected a whole number of 1 or more" in bad.stderr
    missing = _run("--space", "nowhere.space")
    assert missing.returncode == 2
    assert "--space nowhere.space: cannot import it" in missing.stderr

"""Every test that starts a sweep goes through tests/_sweeps.py: a shared sweep read by all who
need it (``shared_sweep``), or a sweep of the test's own with the reason given (``own=``). A
new test file that launches a study script itself, or starts Ray Tune in-process without being
listed here, fails this check: sweeps are most of the suite's time, and one run per reader is
how the suite stays within its budget as studies are added."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
RUNNER = {"run_study", "start_study", "interrupt_study", "kill_mid_sweep"}
# Tests that drive the sweep engine in-process rather than a study script, and why.
IN_PROCESS = {
    "test_faults.py": "injects failing trials into run_sweep itself",
    "test_asha_ray.py": "the scheduler alone on real Ray, with a trainable of its own",
    "test_sweep_spec.py": "run_sweep's refusals of a bad spec, before Ray starts",
    "test_toy_task.py": "a task defined in the test module itself, which no study script has",
    "test_scale.py": "100 trials of bench's torch-free replay task, which no study script runs",
}
SCRIPT = re.compile(r"(^|/)sweeps/\w+\.py$")


def _launches(tree: ast.AST) -> list[str]:
    """What in a test module starts a sweep outside the runner."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and SCRIPT.search(node.value):
            found.append(f"line {node.lineno}: the path of a study script ({node.value!r})")
        # a file under sweeps/ (ROOT / "sweeps" / name), not the folder itself (a listing)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) \
                and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Div) \
                and isinstance(node.left.right, ast.Constant) and node.left.right.value == "sweeps":
            found.append(f"line {node.lineno}: the path of a study script (.../'sweeps'/...)")
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("run_sweep", "Tuner"):
                found.append(f"line {node.lineno}: {name}(...) in-process")
    return found


def _runner_calls_without_reason(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in RUNNER
            and not any(k.arg == "own" for k in node.keywords)]


def test_no_test_module_starts_a_sweep_outside_the_shared_runner():
    offenders = {}
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name:  # its own patterns
            continue
        tree = ast.parse(path.read_text(), str(path))
        found = _launches(tree)
        if path.name in IN_PROCESS:
            found = [f for f in found if "in-process" not in f]
        found += [f"line {n}: a runner call without own=\"why\"" for n in
                  _runner_calls_without_reason(tree)]
        if found:
            offenders[path.name] = found
    assert not offenders, (
        "start sweeps through tests/_sweeps.py (shared_sweep, or run_study(..., own='why')): "
        f"{offenders}")


def test_the_check_finds_a_script_launched_by_hand_and_a_call_without_a_reason():
    tree = ast.parse(
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, 'sweeps/compound_scaling.py', '--smoke-test'])\n"
        "ROOT / 'sweeps' / 'language_model.py'\n"
        "run_study('optimizers', '--smoke-test')\n"
        "tuning.run_sweep(spec, data)\n")
    assert sorted(f.split(":")[0] for f in _launches(tree)) == ["line 2", "line 3", "line 5"]
    assert _runner_calls_without_reason(tree) == [4]


def test_each_shared_sweep_is_read_by_two_test_modules_or_more():
    """A sweep only one module reads is that module's own: sharing it saves nothing."""
    from tests._sweeps import SHARED

    readers = {name: [p.name for p in TESTS.glob("test_*.py")
                      if f'shared_sweep("{name}")' in p.read_text()] for name in SHARED}
    assert all(len(r) >= 2 for r in readers.values()), readers


def test_the_test_session_starts_one_ray_cluster():
    """A cluster's start is the costliest setup after a sweep: every test that needs nodes
    uses the session's one (``unshared`` in conftest.py), started in one place."""
    calls = {p.name: p.read_text().count("start_cluster(") for p in sorted(TESTS.glob("*.py"))
             if p.name not in ("_cluster.py", Path(__file__).name)}
    assert {name: n for name, n in calls.items() if n} == {"conftest.py": 1}

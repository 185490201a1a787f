"""The recipes in deploy/ as written, read and never run: each file parses; the cluster
launcher's YAML passes the installed Ray's own schema (ray/autoscaler/ray-schema.json) and the
RayJob passes KubeRay's RayJob CRD schema (v1.7.0, in tests/data, unknown fields refused as
`kubectl apply` refuses them); the shell scripts pass `bash -n`; Ray's token auth is on wherever
Ray starts or a driver joins; the image installs the Python, torch and project that
pyproject.toml pins; and every study command names a script under sweeps/ whose own parser
takes its options. bench/gpu_check.sh skips with one line where there is no GPU."""

from __future__ import annotations

import argparse
import copy
import gzip
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SWEEPS = ROOT / "sweeps"
DOCKERFILE = DEPLOY / "Dockerfile"
RAYJOB = DEPLOY / "kuberay" / "rayjob.yaml"
LAUNCHER = DEPLOY / "launcher" / "cluster.yaml"
LAUNCHER_RUN = DEPLOY / "launcher" / "run.sh"
SLURM = DEPLOY / "slurm" / "rnn-sweeps.sbatch"
GPU_CHECK = ROOT / "bench" / "gpu_check.sh"
RECIPES = (RAYJOB, LAUNCHER_RUN, SLURM)  # the three that run a study
RAYJOB_CRD = ROOT / "tests" / "data" / "kuberay_rayjob_v1.7.0.json.gz"
KUBERAY_AUTH_MIN_RAY = Version("2.52.0")  # KubeRay's authOptions need Ray 2.52 or newer

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPT = re.compile(r"(?:^|/)sweeps/(\w+)\.py$")
OPERATORS = set("();<>|&")


def pin(name: str) -> str:
    """The version pyproject.toml pins ``name`` (with or without extras) to."""
    for dep in PYPROJECT["project"]["dependencies"]:
        found = re.fullmatch(rf"{re.escape(name)}(\[[\w,]+\])?==(\S+)", dep)
        if found:
            return found.group(2)
    raise AssertionError(f"pyproject.toml pins no {name}")


def logical_lines(text: str) -> list[str]:
    """Shell text as the shell reads it: continuation lines joined, comment lines left out."""
    joined = re.sub(r"\\\n", " ", text)
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def study_commands(line: str) -> list[tuple[str, list[str]]]:
    """(script path, its options) of each study command in one shell line, quoted ones (`ray
    exec CONFIG "... python sweeps/x.py ..."`) included; the options end at an operator."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    tokens = list(lex)
    found = []
    for i, token in enumerate(tokens):
        if SCRIPT.search(token):
            args = []
            for arg in tokens[i + 1:]:
                if set(arg) <= OPERATORS:
                    break
                args.append(arg)
            found.append((token, args))
        elif "sweeps/" in token and " " in token:
            for inner in logical_lines(token):
                found += study_commands(inner)
    return found


def strings(node) -> list[str]:
    """Every string in a parsed YAML document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def recipe_lines(path: Path) -> list[str]:
    """The shell lines a recipe runs: a script's own, or each string of a YAML file."""
    if path.suffix == ".yaml":
        return [line for s in strings(yaml.safe_load(path.read_text()))
                for line in logical_lines(s)]
    return logical_lines(path.read_text())


COMMANDS = [(path.relative_to(ROOT).as_posix(), script, args) for path in RECIPES
            for line in recipe_lines(path) for script, args in study_commands(line)]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, its text) of each Dockerfile instruction, continuation lines joined."""
    return [tuple(line.split(None, 1)) for line in logical_lines(DOCKERFILE.read_text())]


def workdir() -> str:
    return [text for op, text in dockerfile() if op == "WORKDIR"][-1]


class Parsed(Exception):
    """What a script's parser returned, raised in place of running the study."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        self.namespace = namespace


def parse_study(script: str, args: list[str], monkeypatch, capsys) -> argparse.Namespace:
    """``args`` as ``sweeps/<script>.py``'s own main() parses them, the study never run: the
    script builds its parser as a user's command does, and the parse is where it stops."""
    module = importlib.import_module(f"sweeps.{script}")
    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise Parsed(real(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    try:
        module.main(args)
    except Parsed as parsed:
        return parsed.namespace
    except SystemExit:
        error = capsys.readouterr().err.strip().splitlines()[-1]
        pytest.fail(f"sweeps/{script}.py {shlex.join(args)}: {error}")
    pytest.fail(f"sweeps/{script}.py never parsed its options")


def closed(schema):
    """A CRD schema that refuses unknown fields, as the API server's strict field validation
    (kubectl's default) does: objects with properties allow no others unless marked to keep
    unknown fields."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def schema_errors(instance, schema) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                  for e in jsonschema.Draft7Validator(schema).iter_errors(instance))


def rayjob_schema() -> tuple[dict, dict]:
    crd = json.loads(gzip.decompress(RAYJOB_CRD.read_bytes()))
    return crd, closed(crd["openAPIV3Schema"])


def ray_schema() -> dict:
    """The cluster launcher's schema of the installed Ray (found without importing Ray)."""
    ray_dir = Path(importlib.util.find_spec("ray").origin).parent
    return json.loads((ray_dir / "autoscaler" / "ray-schema.json").read_text())


# --- the study commands -------------------------------------------------------------------


def test_every_recipe_runs_a_study():
    assert {recipe for recipe, _, _ in COMMANDS} == {
        p.relative_to(ROOT).as_posix() for p in RECIPES}


@pytest.mark.parametrize(("recipe", "script", "args"), COMMANDS,
                         ids=[f"{r}:{Path(s).name}" for r, s, _ in COMMANDS])
def test_study_command_parses_with_its_scripts_own_parser(recipe, script, args, monkeypatch,
                                                          capsys):
    name = SCRIPT.search(script).group(1)
    assert (SWEEPS / f"{name}.py").is_file(), f"{recipe}: {script} does not exist"
    if script.startswith("/"):  # a path inside the image
        assert script == f"{workdir()}/sweeps/{name}.py", f"{recipe}: {script} is not in the image"
    options = parse_study(name, args, monkeypatch, capsys)
    # a recipe's driver joins its cluster and keeps its state where every node reaches it
    assert options.address, f"{recipe}: the study starts a Ray of its own (no --address)"
    assert options.storage_path.startswith("s3://"), f"{recipe}: {options.storage_path}"
    assert options.tracking_uri.startswith(("http://", "https://")), recipe


def test_study_commands_are_found_in_a_line_and_in_a_quoted_command():
    line = ('ray exec c.yaml "cd /app && RAY_AUTH_MODE=token python sweeps/a.py --x 1 \\\n'
            '    --y \'s p\'" && python /app/sweeps/b.py --z; echo sweeps/c.py.txt')
    # built, not literal: tests/test_sweep_runner.py takes a literal script path for a launch
    a, b = (f"sweeps/{name}.py" for name in "ab")
    assert [c for text in logical_lines(line) for c in study_commands(text)] == [
        (a, ["--x", "1", "--y", "s p"]), (f"/app/{b}", ["--z"])]


def test_a_study_option_the_script_lacks_fails_the_parse(monkeypatch, capsys):
    with pytest.raises(pytest.fail.Exception, match="--no-such-option"):
        parse_study("compound_scaling", ["--preset", "quick", "--no-such-option"],
                    monkeypatch, capsys)


# --- Ray's token auth ---------------------------------------------------------------------


def auth_gaps(lines: list[str], exported: bool) -> list[str]:
    """The lines that start Ray or a study without RAY_AUTH_MODE=token in their environment:
    set on the line itself, or (``exported``: one shell runs them all) exported before it."""
    gaps, on = [], False
    for line in lines:
        if exported and re.search(r"\bexport RAY_AUTH_MODE=token\b", line):
            on = True
        starts = "ray start" in line or study_commands(line)
        if starts and not on and "RAY_AUTH_MODE=token" not in line:
            gaps.append(line)
    return gaps


def test_ray_token_auth_in_the_rayjob():
    job = yaml.safe_load(RAYJOB.read_text())
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["authOptions"]["mode"] == "token"
    assert cluster["rayVersion"] == pin("ray")
    assert Version(cluster["rayVersion"]) >= KUBERAY_AUTH_MIN_RAY


def test_ray_token_auth_in_the_cluster_launcher():
    config = yaml.safe_load(LAUNCHER.read_text())
    # each start command runs in a shell of its own: an export in one would not reach the next
    starts = [line for key in ("head_start_ray_commands", "worker_start_ray_commands")
              for cmd in config[key] for line in logical_lines(cmd)]
    assert any("ray start --head" in line for line in starts)
    assert any("ray start --address" in line for line in starts)
    assert auth_gaps(starts, exported=False) == []
    assert "~/.ray/auth_token" in config["file_mounts"]  # every node gets the token
    assert auth_gaps(logical_lines(LAUNCHER_RUN.read_text()), exported=False) == []


def test_ray_token_auth_in_the_slurm_script():
    lines = logical_lines(SLURM.read_text())
    assert auth_gaps(lines, exported=True) == []
    assert any(re.search(r"\bexport RAY_AUTH_TOKEN\b", line) for line in lines)
    # srun hands the job's environment (the token) to its steps unless told otherwise
    assert not [line for line in lines if "srun" in line and "--export" in line]


def test_the_auth_check_finds_a_start_without_the_token():
    assert auth_gaps(["ray start --head", "RAY_AUTH_MODE=token ray start --address=h:1"],
                     exported=False) == ["ray start --head"]
    assert auth_gaps(["ray start --head", "export RAY_AUTH_MODE=token"], exported=True) == [
        "ray start --head"]
    assert auth_gaps(["export RAY_AUTH_MODE=token", "ray start --head"], exported=True) == []


# --- schemas ------------------------------------------------------------------------------


def test_the_launcher_config_passes_rays_own_schema():
    config = yaml.safe_load(LAUNCHER.read_text())
    assert schema_errors(config, ray_schema()) == []
    # Ray's on-prem provider: fixed machines, one node type it makes itself
    assert config["provider"]["type"] == "local"
    assert config["provider"]["head_ip"] and config["provider"]["worker_ips"]
    assert "available_node_types" not in config


def test_rays_schema_refuses_a_misspelt_or_missing_field():
    config = yaml.safe_load(LAUNCHER.read_text())
    config["head_start_ray_command"] = config.pop("head_start_ray_commands")
    del config["provider"]
    errors = " ".join(schema_errors(config, ray_schema()))
    assert "head_start_ray_command" in errors and "'provider' is a required property" in errors


def test_the_rayjob_passes_kuberays_crd_schema():
    job = yaml.safe_load(RAYJOB.read_text())
    crd, schema = rayjob_schema()
    assert job["apiVersion"] == f"{crd['group']}/{crd['version']}"
    assert job["kind"] == crd["kind"]
    assert job["metadata"]["name"]
    assert schema_errors(job, schema) == []


def test_the_crd_schema_refuses_a_missing_required_or_unknown_field():
    job = yaml.safe_load(RAYJOB.read_text())
    broken = copy.deepcopy(job)
    del broken["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["groupName"]
    broken["spec"]["entrypointt"] = broken["spec"].pop("entrypoint")
    errors = " ".join(schema_errors(broken, rayjob_schema()[1]))
    assert "'groupName' is a required property" in errors and "entrypointt" in errors


# --- the image ----------------------------------------------------------------------------


def test_the_image_installs_what_pyproject_pins():
    steps = dockerfile()
    base = [text for op, text in steps if op == "FROM"]
    assert len(base) == 1
    python = re.match(r"python:(\d+\.\d+)", base[0]).group(1)
    assert Version(f"{python}.0") in SpecifierSet(PYPROJECT["project"]["requires-python"])
    runs = " ".join(text for op, text in steps if op == "RUN")
    assert re.findall(r"\btorch==(\S+)", runs) == [pin("torch")]
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in runs
    assert ("ARG", "TORCH_VARIANT=cpu") in steps
    extras = re.findall(r'pip install "\.\[([\w,]+)\]"', runs)
    assert extras, "the image does not install the project"
    assert set(extras[0].split(",")) <= set(PYPROJECT["project"]["optional-dependencies"])


def test_the_image_copies_only_what_exists_and_the_build_context_sends():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    sent = {line[1:] for line in ignore if line.startswith("!")}
    assert "*" in ignore
    for op, text in dockerfile():
        if op == "COPY":
            for source in text.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert source in sent, f"{source} is left out of the build context"


def test_every_node_runs_the_image_of_this_project_version():
    version = PYPROJECT["project"]["version"]
    job = yaml.safe_load(RAYJOB.read_text())
    cluster = job["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]]
    images = {c["image"] for t in templates for c in t["spec"]["containers"]}
    images.add(yaml.safe_load(LAUNCHER.read_text())["docker"]["image"])
    assert len(images) == 1, images
    assert images.pop().rsplit(":", 1)[1].startswith(f"{version}-")


# --- shell syntax -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LAUNCHER_RUN, SLURM, GPU_CHECK],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shell_script_syntax(path):
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert os.access(path, os.X_OK), f"{path.name} is not executable"


def test_the_images_run_steps_are_shell(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("\n".join(text for op, text in dockerfile() if op == "RUN") + "\n")
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr


# --- the GPU check ------------------------------------------------------------------------


def no_gpu_env(tmp_path: Path) -> dict:
    """PATH with an nvidia-smi first that fails as it does where the driver finds no GPU."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate "
                    "with the NVIDIA driver.' >&2\nexit 9\n")
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("machine", ["driver without a GPU", "this machine"])
def test_gpu_check_skips_with_one_line_without_a_gpu(machine, tmp_path):
    env = no_gpu_env(tmp_path) if machine == "driver without a GPU" else dict(os.environ)
    if machine == "this machine" and shutil.which("nvidia-smi"):
        pytest.skip("nvidia-smi is here: the script would run its GPU checks")
    figures = tmp_path / "figures"
    proc = subprocess.run(["bash", str(GPU_CHECK), str(figures)], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: skipped: "), lines
    assert not figures.exists()

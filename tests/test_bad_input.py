"""Hostile and bad input, table-driven: one clear sentence, a non-zero exit, before any work
(no Ray instance started), and nothing already recorded in MLflow touched."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
from pathlib import Path

import pytest
import torch

from rnn_core.checkpoints import CheckpointError, load_checkpoint
from rnn_core.data.dlstudio import read_dlstudio_archive, write_dlstudio_archive
from rnn_core.tuning import check_tracking
from sweeps import compound_scaling
from sweeps._common import main_guard
from tests._servers import BUCKET

GOOD_CSV = "review,sentiment\n" + "".join(
    f"review number {i} was {'great' if i % 2 else 'awful'},{'positive' if i % 2 else 'negative'}\n"
    for i in range(40))

# (id, extra argv, files to write {name: bytes} (paths given as {tmp}/name), expected fragment)
CLI = [
    ("scheduler", ["--scheduler", "hyperband"], "invalid choice: 'hyperband'"),
    ("optimizer", ["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    ("preset", ["--preset", "huge"], "invalid choice: 'huge'"),
    ("layers-0", ["--layers", "0"], "every value must be at least 1"),
    ("layers-neg", ["--layers", "1,-2"], "every value must be at least 1"),
    ("layers-empty", ["--layers", ","], "expected at least one value"),
    ("hidden-text", ["--hidden", "a,b"], "not a comma-separated list of integers"),
    ("hidden-float", ["--hidden", "1.5"], "not a comma-separated list of integers"),
    ("embedding-0", ["--embedding", "0"], "every value must be at least 1"),
    ("max-epochs-0", ["--max-epochs", "0"], "must be a finite number above 0"),
    ("max-epochs-text", ["--max-epochs", "five"], "is not a int"),
    ("num-samples-0-no-budget", ["--num-samples", "0", "--search", "random"],
     "--num-samples 0 draws new trials until --time-budget is spent; give --time-budget"),
    ("num-samples-0-grid", ["--num-samples", "0", "--time-budget", "1h"],
     "--num-samples 0 (new trials until --time-budget) needs a sampled search"),
    ("num-samples-neg", ["--num-samples", "-1"], "expected 1 or more, or 0 for trials until"),
    ("time-budget-unitless", ["--time-budget", "3"], "'3': expected a duration above 0 with "
                                                     "its unit, e.g. 3h, 90m or 600s"),
    ("time-budget-0", ["--time-budget", "0h"], "expected a duration above 0"),
    ("time-budget-resume", ["--resume", "--time-budget", "1h"],
     "--time-budget cannot be given with --resume"),
    ("time-budget-text", ["--time-budget", "soon"], "expected a duration above 0"),
    ("cpus-0", ["--cpus-per-trial", "0"], "must be a finite number above 0"),
    ("gpus-neg", ["--gpus-per-trial", "-1"], "must be 0 or more"),
    ("gpus-fraction-above-1", ["--gpus-per-trial", "1.5"], "above 1 it must be whole"),
    ("lr-0", ["--lr", "0"], "must be a finite number above 0"),
    ("lr-inf", ["--lr", "inf"], "must be a finite number above 0"),
    ("lr-nan", ["--lr", "nan"], "must be a finite number above 0"),
    ("reduction-0", ["--reduction-factor", "0"], "must be a finite number above 0"),
    ("reduction-1", ["--reduction-factor", "1"], "--reduction-factor 1: expected a whole number"),
    ("reduction-half", ["--reduction-factor", "0.5"], "0.5: expected a whole number of 2 or"),
    ("reduction-fraction", ["--reduction-factor", "1.5"], "1.5: expected a whole number of 2"),
    ("grace-over-max", ["--grace-period", "4", "--max-epochs", "2"], "exceeds --max-epochs"),
    ("grace-with-fifo", ["--scheduler", "fifo", "--grace-period", "2"],
     "only applies to --scheduler asha"),
    ("max-failures-neg", ["--max-failures", "-1"], "must be 0 or more"),
    ("experiment-blank", ["--experiment-name", " "], "must not be empty"),
    ("seed-text", ["--seed", "abc"], "invalid int value: 'abc'"),
    ("train-subset-0", ["--train-subset", "0"], "must be a finite number above 0"),
    ("unknown-flag", ["--bogus", "2"], "unrecognized arguments"),
    ("abbreviated-flag", ["--layer", "2"], "unrecognized arguments"),
    ("resume-missing", ["--resume", "/no/such/sweep"], "--resume /no/such/sweep is not a folder"),
    ("tracking-scheme", ["--tracking-uri", "ftp://host/x"], "is not supported"),
    ("tracking-unreachable", ["--tracking-uri", "http://127.0.0.1:9"],
     "--tracking-uri http://127.0.0.1:9: no MLflow tracking server answers there (connection "
     "refused)"),
    ("outage-limit-unitless", ["--tracking-outage-limit", "30"], "expected a duration above 0"),
    ("optuna-storage-grid", ["--optuna-storage", "sqlite:///x.db"],
     "--optuna-storage only applies to --search random, tpe or nsga2"),
    ("optuna-storage-not-url", ["--search", "tpe", "--optuna-storage", "optuna.db"],
     "--optuna-storage optuna.db is not a database URL"),
    ("optuna-storage-unreachable", ["--search", "tpe", "--optuna-storage",
                                    "postgresql://u:secret@127.0.0.1:9/optuna"],
     "--optuna-storage postgresql://u@127.0.0.1:9/optuna cannot be opened"),
    ("optuna-storage-no-driver", ["--search", "tpe", "--optuna-storage",
                                  "mysql://u@127.0.0.1:9/optuna"],
     "no database driver for mysql is installed"),
    ("tracking-no-folder", ["--tracking-uri", "sqlite:////no/such/dir/m.db"], "does not exist"),
    ("search-name", ["--search", "bayes"], "invalid choice: 'bayes'"),
    ("search-one-point", ["--search", "tpe", "--layers", "1", "--hidden", "16"],
     "needs a space with more than one configuration"),
    ("search-over-budget", ["--search", "tpe", "--num-samples", "5"],
     "--num-samples 5 exceeds the 4 configurations of the space"),
    ("nsga2-with-asha", ["--search", "nsga2", "--scheduler", "asha"],
     "--search nsga2 needs --scheduler fifo"),
    ("storage-scheme", ["--storage-path", "nosuch://bucket/x"],
     "Unrecognized filesystem type in URI: nosuch://bucket/x; expected a local folder or a URI"),
    ("search-no-study-folder", ["--search", "tpe", "--tracking-uri", "http://127.0.0.1:9",
                                "--storage-path", "s3://bucket/x"],
     "nor --storage-path s3://bucket/x is a folder on this machine"),
]

# (id, argv, environment over the S3 server's, expected fragment): refused before any work
S3 = [
    ("no-bucket", ["--storage-path", "s3://no-such-bucket/x"], {},
     "bucket 'no-such-bucket' does not exist on that server"),
    ("wrong-secret", ["--storage-path", f"s3://{BUCKET}/x"], {"AWS_SECRET_ACCESS_KEY": "wrong"},
     f"--storage-path s3://{BUCKET}/x cannot be used: "),
    ("resume-not-a-sweep", ["--resume", f"s3://{BUCKET}/nothing-here"], {},
     f"--resume s3://{BUCKET}/nothing-here: not a sweep folder"),
    ("resume-none", ["--storage-path", f"s3://{BUCKET}/nothing-here", "--resume"], {},
     f"no unfinished compound_scaling sweep under s3://{BUCKET}/nothing-here"),
]

DATA = [
    ("missing", None, "does not exist"),
    ("empty", b"", "is empty"),
    ("columns", b"text,label\nhello,1\n", "expected review,sentiment"),
    ("one-class", ("review,sentiment\n" + "good film,positive\n" * 40).encode(),
     "expected both positive and negative"),
    ("not-utf8", b"review,sentiment\n\xff\xfe bad,positive\n", "not UTF-8"),
    ("unclosed-quote", b'review,sentiment\n"never closed,positive\nok,negative\n',
     "not a readable CSV"),
    ("labels", b"review,sentiment\ngood,maybe\n", "expected positive/negative"),
    ("gzip-as-csv", gzip.compress(GOOD_CSV.encode()), "not UTF-8"),
    ("empty-folder", "dir", "holds no reviews"),
]


@pytest.fixture
def store(tmp_path):
    """A store that already holds a run: bad input must leave it as it was."""
    uri = f"sqlite:///{tmp_path}/m.db"
    client, exp_id = check_tracking(uri, "rnn-sweeps")
    run = client.create_run(exp_id, run_name="earlier")
    client.log_metric(run.info.run_id, "val_acc", 0.9, step=1)
    client.set_terminated(run.info.run_id)
    return uri, client, exp_id, run.info.run_id


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    import ray

    try:
        code = main_guard(lambda: compound_scaling.main(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    assert not ray.is_initialized(), "Ray was started before the input was checked"
    return code, capsys.readouterr().err


def _assert_refused(code: int, err: str, fragment: str) -> None:
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert "error:" in last and fragment in last, err
    assert "Traceback" not in err


def _assert_untouched(store) -> None:
    uri, client, exp_id, run_id = store
    runs = client.search_runs([exp_id])
    assert [r.info.run_id for r in runs] == [run_id]
    assert [m.value for m in client.get_metric_history(run_id, "val_acc")] == [0.9]


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_bad_option(argv, fragment, store, tmp_path, capsys):
    uri = store[0]
    if not any(a == "--tracking-uri" for a in argv):
        argv = [*argv, "--tracking-uri", uri]
    code, err = _cli(["--smoke-test", "--storage-path", str(tmp_path / "ray"), *argv], capsys)
    _assert_refused(code, err, fragment)
    _assert_untouched(store)
    assert not (tmp_path / "ray").exists()


@pytest.mark.slow  # the S3 server's start
@pytest.mark.parametrize("argv, env, fragment", [c[1:] for c in S3], ids=[c[0] for c in S3])
def test_unusable_s3_storage(argv, env, fragment, s3_server, store, capsys, monkeypatch):
    for key, value in {**s3_server.env, **env}.items():
        monkeypatch.setenv(key, value)
    code, err = _cli(["--smoke-test", "--tracking-uri", store[0], *argv], capsys)
    _assert_refused(code, err, fragment)
    _assert_untouched(store)


def test_resuming_a_sweep_of_the_earlier_asha_is_refused(store, tmp_path, capsys):
    """Sweeps interrupted under Ray's ASHAScheduler left their rungs as a
    list of brackets; today's ASHA cannot continue them."""
    folder = tmp_path / "ray" / "compound_scaling-1a2b3c4d"
    side = tmp_path / "ray" / ".rnn_sweeps" / folder.name
    folder.mkdir(parents=True)
    side.mkdir(parents=True)
    (side / "sweep.json").write_text('{"status": "interrupted", "sweep_params": {}}')
    (side / "asha_rungs.json").write_text('[{"1.0": {"a_00000": 0.8}, "3.0": {}}]')
    code, err = _cli(["--smoke-test", "--tracking-uri", store[0], "--resume", str(folder)],
                     capsys)
    _assert_refused(code, err, "ran with Ray's ASHAScheduler")
    _assert_untouched(store)


@pytest.mark.parametrize("content, fragment", [d[1:] for d in DATA], ids=[d[0] for d in DATA])
def test_bad_data_file(content, fragment, store, tmp_path, capsys):
    path = tmp_path / "reviews.csv"
    if content == "dir":
        path = tmp_path / "aclImdb"
        (path / "train" / "pos").mkdir(parents=True)
    elif content is not None:
        path.write_bytes(content)
    code, err = _cli(["--smoke-test", "--storage-path", str(tmp_path / "ray"), "--tracking-uri",
                      store[0], "--data-path", str(path)], capsys)
    _assert_refused(code, err, fragment)
    assert str(path) in err.strip().splitlines()[-1]  # the sentence names the file
    _assert_untouched(store)


def test_read_only_tracking_folder(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes through chmod: a read-only mount is the real thing
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
    else:
        ro.chmod(0o555)
    try:
        code, err = _cli(["--smoke-test", "--storage-path", str(tmp_path / "ray"),
                          "--tracking-uri", f"sqlite:///{ro}/m.db"], capsys)
        _assert_refused(code, err, "is not writable")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=True)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_checkpoint_is_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "state.pt"
    torch.save({"model": _Exploit(marker)}, path)
    with pytest.raises(CheckpointError, match="holds more than plain state"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same bytes through plain pickle would have run the command
    torch.save({"epoch": 1, "w": torch.ones(2)}, path)
    assert load_checkpoint(path)["epoch"] == 1


def test_damaged_checkpoint_is_named(tmp_path):
    path = tmp_path / "state.pt"
    torch.save({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is damaged"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def _archive(tmp_path: Path) -> Path:
    return write_dlstudio_archive(tmp_path / "sentiment_dataset_train_200.tar.gz",
                                  {"books": [["good", "read"]]}, {"books": [["dull"]]},
                                  ["good", "read", "dull"])


@pytest.mark.parametrize("damage, fragment", [
    (lambda b: b[: len(b) // 2], "sentiment_dataset_train_200.tar.gz"),
    (lambda b: b"\x1f\x8b" + b"\x00" * 40, "sentiment_dataset_train_200.tar.gz"),
    (lambda b: gzip.compress(pickle.dumps(_Exploit(Path("/tmp/never")), protocol=2)),
     "only builtin containers and strings"),
], ids=["truncated-archive", "bad-gzip", "crafted-pickle"])
def test_bad_archive(tmp_path, damage, fragment):
    path = _archive(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError) as err:
        read_dlstudio_archive(path)
    assert fragment in str(err.value)
    assert not Path("/tmp/never").exists()


# the language-model study: its own axes and data layouts, the same one-sentence refusals
LM_CLI = [
    ("cells", ["--cells", "transformer"], "expected a comma-separated list of"),
    ("dropout-1", ["--dropout", "1"], "each rate must be in [0, 1)"),
    ("dropout-text", ["--dropout", "half"], "is not a list of numbers"),
    ("grace-with-default-fifo", ["--grace-period", "2"], "only applies to --scheduler asha"),
    ("data-missing", ["--data-path", "/no/such/ptb"], "does not exist; expected a folder"),
    ("data-no-layout", ["--data-path", "{tmp}"], "holds no corpus"),
    ("ptb-incomplete", ["--data-path", "{tmp}/ptb"], "ptb.valid.txt is missing"),
    ("ptb-empty", ["--data-path", "{tmp}/ptb-empty"], "ptb.train.txt is empty"),
    # any corpus: a folder of train/valid/test files or one text file cut by --split
    ("split-two", ["--split", "0.9,0.1"], "expected three fractions in (0, 1) summing to 1"),
    ("split-sum", ["--split", "0.8,0.1,0.2"], "expected three fractions in (0, 1) summing"),
    ("tokens", ["--tokens", "byte"], "invalid choice: 'byte'"),
    ("text-dir-incomplete", ["--data-path", "{tmp}/texts"], "texts/test.txt is missing"),
    ("file-too-short", ["--data-path", "{tmp}/short.txt"],
     "short.txt has 5 lines: --split 0.8,0.1,0.1 leaves the validation split empty"),
    ("file-not-utf8", ["--data-path", "{tmp}/latin1.txt", "--tokens", "char"],
     "latin1.txt line 2 is not UTF-8"),
    ("split-with-folder", ["--data-path", "{tmp}/corpus", "--split", "0.5,0.25,0.25"],
     "--split cuts one text file into three"),
]


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in LM_CLI], ids=[c[0] for c in LM_CLI])
def test_bad_language_model_option(argv, fragment, store, tmp_path, capsys):
    import ray

    from sweeps import language_model

    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_text("a b c\n")
    (tmp_path / "ptb-empty").mkdir()
    for name in ("train", "valid", "test"):
        (tmp_path / "ptb-empty" / f"ptb.{name}.txt").write_text("" if name == "train" else "a\n")
    (tmp_path / "texts").mkdir()
    for name in ("train", "valid"):
        (tmp_path / "texts" / f"{name}.txt").write_text("a b\n")
    (tmp_path / "short.txt").write_text("one\ntwo\nthree\nfour\nfive\n")
    (tmp_path / "latin1.txt").write_bytes("plain\ncaf\u00e9\n".encode("latin-1"))
    (tmp_path / "corpus").mkdir()
    for name in ("train", "val", "test"):
        (tmp_path / "corpus" / f"{name}.txt").write_text("a b\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main_guard(lambda: language_model.main(
            ["--smoke-test", "--storage-path", str(tmp_path / "ray"), "--tracking-uri",
             store[0], *argv]))
    except SystemExit as exc:  # argparse
        code = exc.code
    assert not ray.is_initialized(), "Ray was started before the input was checked"
    _assert_refused(code, capsys.readouterr().err, fragment)
    _assert_untouched(store)


def test_gpus_on_a_machine_whose_torch_sees_no_cuda_are_refused(store, tmp_path, capsys):
    """A local sweep asking for GPUs that torch cannot use would train on the CPU or never
    start its trials, saying so only in the workers' logs: refused before any work."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine's torch sees a CUDA device")
    code = main_guard(lambda: compound_scaling.main(
        ["--smoke-test", "--gpus-per-trial", "0.5", "--tracking-uri", store[0],
         "--storage-path", str(tmp_path / "ray")]))
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "--gpus-per-trial 0.5: torch on this machine sees no CUDA device (a CPU build of torch, "
        "or no GPU driver); install a CUDA build of torch (docs/gpus.md) or leave "
        "--gpus-per-trial at 0")
    assert not (tmp_path / "ray").exists()

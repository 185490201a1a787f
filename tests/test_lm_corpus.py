"""The language model on any corpus: a folder of train/valid/test files, one file cut by lines,
words or characters, the refusals, the task's options, and the logged model's predictor."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from rnn_core.data import lm_files, lm_text
from rnn_core.data._lm_corpus import FORMAT
from rnn_core.data.lm_text import EOS, UNK, LMTextOptions, lm_source_id, load_lm_corpus
from rnn_core.errors import ConfigError, DataError
from rnn_core.language_model import LanguageModel, LMConfig
from rnn_core.tasks import LANGUAGE_MODEL
from rnn_core.tasks._lm_serve import LanguageModelPredictor
from rnn_core.tasks.language_model import _fractions, data_options

CHAR = LMTextOptions(token_unit="char")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(root))
    return root


def _words(corpus, split: str) -> list[str]:
    return [corpus.itos[i] for i in corpus.splits[split]]


def _folder(path, val="valid.txt", train="The cat sat\nthe dog sat\nthe cat ran\n",
            valid="The bird sat\n", test="a cat\n\nsat\n"):
    path.mkdir()
    for name, text in (("train.txt", train), (val, valid), ("test.txt", test)):
        (path / name).write_text(text, encoding="utf-8")
    return path


def _lines(path, n: int, text: str = "line {i}") -> object:
    path.write_text("".join(text.format(i=i) + "\n" for i in range(n)), encoding="utf-8")
    return path


# ------------------------------------------------------------------------- folder of three files


@pytest.mark.parametrize("val", ["valid.txt", "val.txt", "validation.txt"])
def test_folder_of_three_files_reads_words_lowercased_min_count_on_train(cache, tmp_path, val):
    c = load_lm_corpus(_folder(tmp_path / "corpus", val), LMTextOptions(min_count=2))
    # train counts: the 3, sat 2, cat 2; dog, ran once: <unk>; "The" lower-cased
    assert c.itos == [UNK, EOS, "the", "cat", "sat"]
    assert _words(c, "train") == ["the", "cat", "sat", EOS, "the", UNK, "sat", EOS,
                                  "the", "cat", UNK, EOS]
    assert _words(c, "val") == ["the", UNK, "sat", EOS]
    assert _words(c, "test") == [UNK, "cat", EOS, EOS, "sat", EOS]  # a blank line: lone <eos>
    s = c.stats
    assert s["layout"] == "text-dir" and s["token_unit"] == "word" and s["lowercased"]
    assert s["files"] == {"train": "train.txt", "val": val, "test": "test.txt"}
    assert s["lines"] == {"train": 3, "val": 1, "test": 3}
    assert s["words"] == {"train": 9, "val": 3, "test": 3}
    assert lm_source_id(tmp_path / "corpus").startswith("text-dir:corpus:")


def test_folder_default_min_count_is_four_and_case_can_be_kept(cache, tmp_path):
    folder = _folder(tmp_path / "c", train="a a a a b b b\nA\n")
    assert load_lm_corpus(folder).itos == [UNK, EOS, "a"]  # "a" 5 times with "A"; b 3 times
    kept = load_lm_corpus(folder, LMTextOptions(lowercase=False, min_count=1))
    assert kept.itos == [UNK, EOS, "a", "b", "A"]  # by count, then by text


def test_folder_refusals_name_the_file(cache, tmp_path):
    folder = _folder(tmp_path / "c")
    (folder / "test.txt").unlink()
    with pytest.raises(DataError, match=r"c/test.txt is missing; expected train.txt"):
        load_lm_corpus(folder)
    (folder / "test.txt").write_text("")
    with pytest.raises(DataError, match=r"c/test.txt is empty"):
        load_lm_corpus(folder)
    (folder / "test.txt").write_text("a\n")
    (folder / "val.txt").write_text("a\n")
    with pytest.raises(DataError, match=r"holds valid.txt and val.txt: keep one validation"):
        load_lm_corpus(folder)
    (folder / "val.txt").unlink()
    (folder / "valid.txt").write_text("\n  \n")
    with pytest.raises(DataError, match=r"valid.txt is empty"):
        load_lm_corpus(folder)
    (folder / "valid.txt").write_text("\n\n")
    with pytest.raises(DataError, match=r"valid.txt is empty"):
        load_lm_corpus(folder)
    assert not (cache / "lm").exists()


# --------------------------------------------------------------------------- one file by ratio


@pytest.mark.parametrize("n, fractions, counts", [
    (10, None, (8, 1, 1)),
    (10, (0.7, 0.2, 0.1), (7, 2, 1)),  # 0.7 + 0.2 of 10 is 9 lines, not 8.999...
    (20, (0.5, 0.25, 0.25), (10, 5, 5)),
    (7, (0.6, 0.2, 0.2), (4, 1, 2)),  # floor(4.2), floor(5.6): the rest is test
    (1003, None, (802, 100, 101)),
])
def test_one_file_cut_by_lines_in_file_order(cache, tmp_path, n, fractions, counts):
    path = _lines(tmp_path / "book.txt", n, "w{i}")
    c = load_lm_corpus(path, LMTextOptions(min_count=1, split_fractions=fractions))
    assert tuple(c.stats["lines"].values()) == counts
    assert c.stats["split_fractions"] == list(fractions or (0.8, 0.1, 0.1))
    a, b = counts[0], counts[0] + counts[1]
    assert _words(c, "train") == [t for i in range(a) for t in (f"w{i}", EOS)]
    assert _words(c, "val")[:2] == [UNK, EOS]  # w<a> never seen in train
    assert len(c.splits["test"]) == 2 * (n - b)
    assert lm_source_id(path).startswith("text-file:book.txt:")


def test_crlf_a_byte_order_mark_and_a_last_line_without_end(cache, tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffone two\r\nthree\r\nfour\r\n\r\nfive six".encode())
    c = load_lm_corpus(path, LMTextOptions(min_count=1, split_fractions=(0.4, 0.2, 0.4)))
    assert _words(c, "train") == ["one", "two", EOS, "three", EOS]
    assert _words(c, "val") == [UNK, EOS]
    assert _words(c, "test") == [EOS, UNK, UNK, EOS]


def test_a_file_too_short_for_the_ratio_says_how_many_lines(cache, tmp_path):
    path = _lines(tmp_path / "short.txt", 5)
    # 5 lines: floor(4.0) = floor(4.5) = 4 train lines, no validation; 6 lines: 4, 1, 1
    with pytest.raises(DataError, match=r"short.txt has 5 lines: --split 0.8,0.1,0.1 leaves "
                                        r"the validation split empty; give a file of at least "
                                        r"6 lines"):
        load_lm_corpus(path)
    with pytest.raises(DataError, match="has 4 lines: --split 0.2,0.4,0.4 leaves the training"):
        load_lm_corpus(_lines(tmp_path / "four.txt", 4), LMTextOptions(
            split_fractions=(0.2, 0.4, 0.4)))
    assert load_lm_corpus(_lines(tmp_path / "six.txt", 6)).stats["lines"] == {
        "train": 4, "val": 1, "test": 1}


def test_a_split_of_blank_lines_only_is_refused_naming_its_lines(cache, tmp_path):
    path = tmp_path / "gaps.txt"
    path.write_text("a b\n" * 8 + "\n" + "c\n")
    with pytest.raises(DataError, match=r"gaps.txt lines 9-9 \(the validation split\) holds "
                                        "no text, only blank lines"):
        load_lm_corpus(path)


@pytest.mark.parametrize("content, fragment", [
    (b"", "x.txt is empty"),
    (b"  \n\n\t\n", "x.txt is empty"),
    (b"one\ntwo\nthr\xe9e\n", r"x.txt line 3 is not UTF-8 \(byte 0xe9\)"),
    (b"ok\n\x89PNG\r\n\x1a\n\x00\x00", r"x.txt is a binary file \(a NUL byte on line 4\)"),
    (b"\xff\xfea\x00b\x00", "x.txt is a binary file"),  # UTF-16
])
def test_unreadable_text_files_are_refused_naming_file_and_line(cache, tmp_path, content,
                                                                fragment):
    path = tmp_path / "x.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=fragment):
        load_lm_corpus(path, CHAR)
    assert not (cache / "lm").exists()


# -------------------------------------------------------------------------------- characters


def test_characters_every_one_a_token_case_kept_newline_as_eos(cache, tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("Ab c\nd\n\nAé\nxy\n", encoding="utf-8")
    c = load_lm_corpus(path, LMTextOptions(token_unit="char", split_fractions=(0.6, 0.2, 0.2)))
    assert _words(c, "train") == ["A", "b", " ", "c", EOS, "d", EOS, EOS]
    assert _words(c, "val") == ["A", UNK, EOS]  # é unseen in train
    assert _words(c, "test") == [UNK, UNK, EOS]
    assert c.stats["min_count_applied"] == 1 and not c.stats["lowercased"]
    assert c.stats["token_unit"] == "char" and set(c.itos) == {UNK, EOS, "A", "b", " ", "c", "d"}
    lower = load_lm_corpus(path, LMTextOptions(token_unit="char", lowercase=True,
                                               split_fractions=(0.6, 0.2, 0.2)))
    assert _words(lower, "val") == ["a", UNK, EOS]


def test_characters_of_penn_treebank_files(cache, tmp_path):
    folder = tmp_path / "ptb"
    folder.mkdir()
    for name, text in (("train", "ab\n"), ("valid", "ba\n"), ("test", "c\n")):
        (folder / f"ptb.{name}.txt").write_text(text)
    c = load_lm_corpus(folder, CHAR)
    assert _words(c, "train") == ["a", "b", EOS] and _words(c, "test") == [UNK, EOS]
    words = load_lm_corpus(folder)  # words: Penn Treebank's own reading, as before
    assert words.stats["layout"] == "ptb" and _words(words, "train") == ["ab", EOS]


def test_options_that_do_not_fit_the_corpus_are_refused(cache, tmp_path):
    brown = tmp_path / "brown"
    brown.mkdir()
    (brown / "ca01").write_text("\tThe/at cat/nn ./.\n")
    with pytest.raises(ConfigError, match="--tokens char reads plain text; .*brown is Brown's"):
        load_lm_corpus(brown, CHAR)
    with pytest.raises(ConfigError, match="--split cuts one text file into three; .*c comes "
                                          "split already"):
        load_lm_corpus(_folder(tmp_path / "c"), LMTextOptions(split_fractions=(0.5, 0.3, 0.2)))


@pytest.mark.parametrize("bad", [(0.8, 0.2), (0.8, 0.1, 0.2), (1.0, 0.0, 0.0), (0.5, -0.1, 0.6),
                                 ("a", "b", "c"), 0.8])
def test_split_fractions_must_be_three_in_0_1_summing_to_1(bad):
    with pytest.raises(ConfigError, match="must be three fractions in"):
        LMTextOptions(split_fractions=bad)
    with pytest.raises(ConfigError, match="token_unit must be one of word, char"):
        LMTextOptions(token_unit="byte")


def test_cli_split_parser():
    assert _fractions("0.8,0.1,0.1") == [0.8, 0.1, 0.1]
    assert _fractions("0.7, 0.2, 0.1") == [0.7, 0.2, 0.1]
    for text in ("0.8,0.2", "0.8,0.1,0.2", "1,0,0", "a,b,c", ""):
        with pytest.raises(ValueError, match="three fractions"):
            _fractions(text)


def test_defaults_keep_browns_cache_key_and_options():
    """The plain-text options at their defaults leave the key Brown's corpus was cached under."""
    source = lm_text.lm_source_id(None)
    old = json.dumps({"source": source, "opts": {"lowercase": True, "min_count": 4,
                                                 "split_words": [800_000, 200_000]},
                      "format": FORMAT}, sort_keys=True)
    assert lm_text._cache_key(source, LMTextOptions()) == hashlib.sha1(
        old.encode()).hexdigest()[:16]
    assert LMTextOptions(lowercase=True, min_count=4) == LMTextOptions()
    assert CHAR.lowercase is False and CHAR.min_count == 1
    assert lm_text._cache_key(source, CHAR) != lm_text._cache_key(source, LMTextOptions())


def test_cache_key_holds_the_new_options(cache, tmp_path, monkeypatch):
    path = _lines(tmp_path / "b.txt", 20, "w{i} x")
    first = load_lm_corpus(path, CHAR)
    monkeypatch.setattr(lm_files, "read_lines", lambda *a: pytest.fail("re-read"))
    assert load_lm_corpus(path, CHAR).itos == first.itos  # from the cache
    for opts in (LMTextOptions(), LMTextOptions(token_unit="char", split_fractions=(0.5, 0.25,
                                                                                   0.25))):
        with pytest.raises(pytest.fail.Exception, match="re-read"):
            load_lm_corpus(path, opts)


# --------------------------------------------------------------------------- the task's options


def test_task_options_reach_the_corpus_options():
    flags = {o.flag: o for o in LANGUAGE_MODEL.options}
    assert set(flags) == {"--tokens", "--split", "--min-count", "--lowercase", "--protocol"}
    assert flags["--protocol"].choices == ("default", "bengio2003")
    base = {"token_unit": "char", "split_fractions": [0.9, 0.05, 0.05], "lowercase": True,
            "min_count": None, "lr": 1.0}
    opts = data_options({}, base)
    assert opts == {"token_unit": "char", "split_fractions": [0.9, 0.05, 0.05],
                    "lowercase": True}
    assert LMTextOptions(**opts).split_fractions == (0.9, 0.05, 0.05)
    assert flags["--lowercase"].type("No") is False
    with pytest.raises(ValueError, match="yes or no"):
        flags["--lowercase"].type("maybe")
    with pytest.raises(ValueError):
        flags["--min-count"].type("0")


def test_prepare_with_options_and_the_serving_bundle(cache, tmp_path):
    path = _lines(tmp_path / "p.txt", 40, "Line {i} of text")
    corpus, info = LANGUAGE_MODEL.prepare(str(path), 0, {"token_unit": "char"})
    assert info["tokens"] == {"train": 10 * 15 + 22 * 16, "val": 4 * 16, "test": 4 * 16}
    # the same-split Kneser-Ney trigram, on the whole splits where no prefix is given
    assert info["kn3_train_tokens"] == info["tokens"]["train"]
    assert 1 < info["kn3_test_ppl_ci_low"] <= info["kn3_test_ppl"] <= info["kn3_test_ppl_ci_high"]
    assert info["kn3_test_n"] == 4 and info["kn3_val_ppl"] > 1
    assert corpus.stats["lines"] == {"train": 32, "val": 4, "test": 4}
    bundle = LANGUAGE_MODEL.serving.bundle(corpus)
    assert bundle["token_unit"] == "char" and bundle["lowercase"] is False
    assert bundle["eos_between_lines"] is True
    assert bundle["vocabulary"] == corpus.itos
    # the input example: the validation split's first lines, as raw text
    assert LANGUAGE_MODEL.serving.examples(corpus) == ("Line 32 of text", "Line 33 of text")
    json.dumps(bundle)


# ------------------------------------------------------------------------------- the predictor


def _model(vocab: int, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    cfg = LMConfig(vocab_size=vocab, hidden_size=8, num_layers=2, cell="lstm")
    model = LanguageModel(cfg)
    for p in model.parameters():  # larger weights than init_range: a peaked distribution
        torch.nn.init.normal_(p, 0, 0.5)
    return {"state_dict": model.state_dict(), "config": {"task": "language_model"},
            "model_config": cfg.to_dict()}


def _reference(ckpt: dict, ids: list[int], eos: int) -> tuple[float, np.ndarray]:
    """(summed NLL of ids after <eos>, the next distribution): one plain full-softmax pass."""
    model = LanguageModel(LMConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    x = torch.tensor([[eos, *ids]])
    with torch.inference_mode():
        out, _ = model(x)
        logp = torch.log_softmax(model.logits(out)[0], -1)
    nll = -float(sum(logp[k, t] for k, t in enumerate(ids)))
    return nll, logp[-1].exp().numpy()


VOCAB = [UNK, EOS, "the", "cat", "sat", "on", "mat"]


def _predictor(unit="word", lowercase=True, vocab=VOCAB):
    ckpt = _model(len(vocab))
    bundle = {"vocabulary": vocab, "unk": UNK, "eos": EOS, "token_unit": unit,
              "lowercase": lowercase}
    return LanguageModelPredictor(bundle, ckpt), ckpt


def test_predictor_scores_text_as_training_encoded_it():
    pred, ckpt = _predictor()
    assert pred.encode("The cat\nsat on the mat") == [2, 3, 1, 4, 5, 2, 6]
    assert pred.encode("the cat\n") == [2, 3, 1]  # an ended last line: its <eos>
    rows = pred.predict(["The cat sat", "the dog sat on\nthe mat"])
    for row, ids in zip(rows, ([2, 3, 4], [2, 0, 4, 5, 1, 2, 6]), strict=True):
        nll, probs = _reference(ckpt, ids, eos=1)
        assert row["tokens"] == len(ids)
        assert row["perplexity"] == pytest.approx(math.exp(nll / len(ids)), rel=1e-5)
        probs[0] = 0.0  # never <unk>
        assert row["next"] == VOCAB[int(probs.argmax())]
        assert row["next_probability"] == pytest.approx(float(probs.max()), rel=1e-5)
    assert rows[0]["note"] == ""
    assert rows[1]["note"] == "row 1: 1 of its 7 words (14%) are out of the vocabulary (<unk>)"


def test_predictor_of_a_stream_without_eos_runs_lines_on():
    ckpt = _model(len(VOCAB))
    bundle = {"vocabulary": VOCAB, "unk": UNK, "eos": EOS, "token_unit": "word",
              "lowercase": False, "eos_between_lines": False}  # --protocol bengio2003
    pred = LanguageModelPredictor(bundle, ckpt)
    assert pred.encode("the cat\nsat on the mat\n") == [2, 3, 4, 5, 2, 6]
    assert pred.encode("The cat") == [0, 3]  # case kept


def test_predictor_carries_the_state_over_windows_of_a_long_text(monkeypatch):
    from rnn_core.tasks import _lm_serve

    pred, ckpt = _predictor()
    text = " ".join(["the cat sat on the mat"] * 30)
    whole = pred.predict([text])[0]
    monkeypatch.setattr(_lm_serve, "_WINDOW", 7)
    windowed = pred.predict([text])[0]
    nll, _ = _reference(ckpt, pred.encode(text), eos=1)
    assert whole["tokens"] == windowed["tokens"] == 180
    for row in (whole, windowed):
        assert row["perplexity"] == pytest.approx(math.exp(nll / 180), rel=1e-4)
    assert windowed["next"] == whole["next"]


def test_predictor_rows_that_cannot_be_scored_say_why():
    pred, _ = _predictor()
    rows = pred.predict(["", None, float("nan"), 12345, "zebra"])
    assert rows[0]["tokens"] == 0 and math.isnan(rows[0]["perplexity"])
    assert rows[0]["next"] in VOCAB[1:] and 0 < rows[0]["next_probability"] < 1
    assert rows[0]["note"] == ("row 0: the text is empty: nothing to score; next is the most "
                               "likely first token")
    assert rows[1]["note"] == rows[2]["note"].replace("2", "1") == "row 1: the text is missing"
    assert rows[3]["note"] == "row 3: expected a text, got int '12345'"
    assert rows[3]["next"] is None and math.isnan(rows[3]["next_probability"])
    assert rows[4]["note"] == "row 4: 1 of its 1 words (100%) are out of the vocabulary (<unk>)"
    assert math.isfinite(rows[4]["perplexity"])


def test_character_predictor_gives_the_newline_as_eos():
    vocab = [UNK, EOS, "a", "b", " "]
    pred, ckpt = _predictor("char", False, vocab)
    assert pred.encode("ab a\nB") == [2, 3, 4, 2, 1, 0]  # case kept: B unseen
    _, probs = _reference(ckpt, [2, 3], eos=1)
    probs[0] = 0.0
    row = pred.predict(["ab"])[0]
    assert row["next"] == ("\n" if probs.argmax() == 1 else vocab[int(probs.argmax())])
    # every row's next is one character
    assert all(len(r["next"]) == 1 for r in pred.predict(["a", "b", "ab ", "ba", " "]))
    assert pred.predict(["aB"])[0]["note"].endswith("1 of its 2 characters (50%) are out of "
                                                    "the vocabulary (<unk>)")


def test_vocabulary_and_embedding_must_agree():
    with pytest.raises(ValueError, match="vocabulary holds 3 tokens, its embedding 7"):
        LanguageModelPredictor({"vocabulary": [UNK, EOS, "a"], "unk": UNK, "eos": EOS,
                                "token_unit": "word", "lowercase": True}, _model(7))


# ------------------------------------------------------------------------------- the space


def test_the_search_space_and_its_options_become_the_sweeps_spec():
    """``search.py --task language_model``: TPE + ASHA over the space, the task's options in
    the fixed config and the data options (no sweep run)."""
    from rnn_core.tuning._search import optuna_space
    from search_spaces import search as spaces
    from sweeps._options import build_parser
    from sweeps._resume import from_args

    space = spaces.space_for("language_model")
    assert space.TASK == "language_model" and (space.SEARCH, space.SCHEDULER) == ("tpe", "asha")
    assert set(space.PRESETS) == {"full", "quick", "smoke"}
    assert space.PRESETS["smoke"]["samples"] == 2 and space.PRESETS["smoke"]["max_epochs"] <= 2
    sampled, conditional, _ = optuna_space(space.GRID)
    assert {"cell", "num_layers", "hidden_size", "dropout", "optimizer", "bptt"} <= set(sampled)
    assert conditional["lr"][0] == "optimizer"
    args = build_parser(None, space, axes=()).parse_args(
        ["--smoke-test", "--data-path", "book.txt", "--tokens", "char", "--split", "0.9,0.05,0.05",
         "--precision", "fp32"])
    spec = from_args(args, space, (), LANGUAGE_MODEL, study="search_language_model")
    assert spec.search == "tpe" and spec.num_samples == 2 and spec.data_path == "book.txt"
    assert spec.base_config["token_unit"] == "char"
    # the corpus options, and the token prefixes the same-split baseline is scored on
    assert spec.data_options == {"token_unit": "char", "split_fractions": [0.9, 0.05, 0.05],
                                 "train_tokens": 4_000, "val_tokens": 1_000,
                                 "test_tokens": 1_000}

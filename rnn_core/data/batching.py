"""Length-bucketed batches: sequences of similar length share a batch, so little is padding."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from rnn_core.data.text import Split

__all__ = ["bucket_batches", "iterate_batches", "iterate_frame_batches", "padded_batch",
           "padded_frames"]


def bucket_batches(lengths: np.ndarray, batch_size: int, *, shuffle: bool,
                   rng: np.random.Generator | None = None, pool: int = 50) -> list[np.ndarray]:
    """Index batches with similar lengths.

    Training (``shuffle``): examples are shuffled, cut into pools of ``pool * batch_size``,
    each pool sorted by length and cut into batches; the batch order is shuffled.
    Evaluation: one global sort by length (the least padding).
    """
    n = len(lengths)
    if shuffle:
        rng = rng or np.random.default_rng()
        order = rng.permutation(n)
        chunk = pool * batch_size
        order = np.concatenate([
            order[i:i + chunk][np.argsort(lengths[order[i:i + chunk]], kind="stable")]
            for i in range(0, n, chunk)
        ]) if n else order
    else:
        order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def padded_batch(split: Split, idx: np.ndarray, pad_index: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tokens (B, T_max) int64 right-padded, lengths (B,), labels (B,)) for rows ``idx``."""
    starts = split.offsets[idx]
    lens = split.offsets[idx + 1] - starts
    t_max = int(lens.max())
    out = np.full((len(idx), t_max), pad_index, dtype=np.int64)
    for row, (s, n) in enumerate(zip(starts, lens, strict=True)):
        out[row, :n] = split.tokens[s:s + n]
    return (torch.from_numpy(out), torch.from_numpy(lens.astype(np.int64)),
            torch.from_numpy(np.asarray(split.labels[idx], dtype=np.int64)))


def iterate_batches(split: Split, batch_size: int, *, shuffle: bool,
                    rng: np.random.Generator | None = None, pad_index: int = 0
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Padded, length-bucketed batches over a whole split."""
    for idx in bucket_batches(np.asarray(split.lengths), batch_size, shuffle=shuffle, rng=rng):
        yield padded_batch(split, idx, pad_index)


def padded_frames(split, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(frames (B, T_max, F) float32 right-padded with zeros, lengths (B,), labels (B,)) for
    rows ``idx`` of a ``rnn_core.data.features.FeatureSplit``."""
    starts = split.offsets[idx]
    lens = split.offsets[idx + 1] - starts
    out = np.zeros((len(idx), int(lens.max()), split.frames.shape[1]), dtype=np.float32)
    for row, (s, n) in enumerate(zip(starts, lens, strict=True)):
        out[row, :n] = split.frames[s:s + n]
    return (torch.from_numpy(out), torch.from_numpy(lens.astype(np.int64)),
            torch.from_numpy(np.asarray(split.labels[idx], dtype=np.int64)))


def iterate_frame_batches(split, batch_size: int, *, shuffle: bool,
                          rng: np.random.Generator | None = None
                          ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Padded, length-bucketed batches of feature frames over a whole split."""
    for idx in bucket_batches(np.asarray(split.lengths), batch_size, shuffle=shuffle, rng=rng):
        yield padded_frames(split, idx)

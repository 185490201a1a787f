"""Labelled sequences of float feature frames (MFCCs, LPC cepstra), kept flat in NumPy.

Torch-free: the driver builds these once and ships them to trials. A split stores every
sequence's frames end to end, ``frames`` (total frames, F), with ``offsets`` marking where
each sequence starts, as ``rnn_core.data.text.Split`` does for token ids; padding happens per
batch, in the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FeatureSet", "FeatureSplit", "disjoint_groups", "from_sequences",
           "stratified_holdout"]


@dataclass
class FeatureSplit:
    """Sequences of feature frames with a class label and a speaker each.

    Attributes:
        frames: (total frames, F) float32, sequence i at ``frames[offsets[i]:offsets[i+1]]``.
        offsets: (N + 1,) int64.
        labels: (N,) int64 class indices.
        speakers: (N,) speaker names (str), for splits that keep a voice in one split.
        targets: (N,) float64 real-valued targets of a regression set (labels are then 0).
    """

    frames: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, i: int) -> np.ndarray:
        return self.frames[self.offsets[i]:self.offsets[i + 1]]

    def take(self, idx: np.ndarray) -> FeatureSplit:
        """The sequences at ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        return from_sequences([self.sequence(i) for i in idx], self.labels[idx],
                              self.speakers[idx], self.frames.shape[1],
                              None if self.targets is None else self.targets[idx])

    def centered(self) -> FeatureSplit:
        """Each sequence less its own mean frame (cepstral mean normalisation): a fixed
        channel or voice colouring, a constant offset on every frame of a clip in the
        cepstral domain, is taken out, so a model trained on one channel meets another's
        clips on the same footing."""
        if not len(self):
            return self
        lengths = np.maximum(self.lengths, 1)[:, None]
        means = np.add.reduceat(self.frames.astype(np.float64), self.offsets[:-1], axis=0)
        means = means / lengths
        frames = self.frames - np.repeat(means, self.lengths, axis=0).astype(np.float32)
        return FeatureSplit(frames, self.offsets, self.labels, self.speakers, self.targets)

    def subset(self, n: int | None, seed: int) -> FeatureSplit:
        """A seeded random ``n`` of the sequences (all of them for None or n >= len)."""
        if n is None or n >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        return self.take(idx)


@dataclass
class FeatureSet:
    """A dataset's splits (``train``, ``val``, ``test`` and any extra test split such as
    ``human``), its class names and what the parent run logs about it."""

    splits: dict[str, FeatureSplit]
    classes: list[str]
    stats: dict = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return int(self.splits["train"].frames.shape[1])

    def scale(self) -> tuple[np.ndarray, np.ndarray]:
        """The training split's per-feature (mean, standard deviation), float64."""
        train = self.splits["train"].frames.astype(np.float64)
        mean, std = train.mean(0), train.std(0)
        std[std < 1e-8] = 1.0  # a constant feature stays constant rather than dividing by 0
        return mean, std

    def standardized(self) -> FeatureSet:
        """Every split scaled by the training split's per-feature mean and standard deviation
        (what the network sees is then on one scale whatever the features' units)."""
        mean, std = self.scale()
        splits = {name: FeatureSplit(((s.frames - mean) / std).astype(np.float32), s.offsets,
                                     s.labels, s.speakers, s.targets)
                  for name, s in self.splits.items()}
        return FeatureSet(splits, self.classes, {**self.stats, "standardized": "train"})


def from_sequences(seqs: list[np.ndarray], labels, speakers, num_features: int,
                   targets=None) -> FeatureSplit:
    """A split from a list of (T_i, F) arrays (and, for regression, their targets)."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    frames = (np.concatenate(seqs).astype(np.float32) if seqs
              else np.zeros((0, num_features), np.float32))
    return FeatureSplit(frames, offsets, np.asarray(labels, dtype=np.int64),
                        np.asarray(speakers, dtype=str),
                        None if targets is None else np.asarray(targets, dtype=np.float64))


def stratified_holdout(groups: np.ndarray, fraction: float, seed: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) indices: from each group (a speaker, a class) a seeded
    ``round(fraction * size)`` of its members, at least one where the group has two or more,
    so the held-out part has every group in the same proportion as the whole."""
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for g in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == g))
        n = int(round(fraction * len(members)))
        n = max(n, 1) if len(members) > 1 else 0
        held.append(members[:n])
        kept.append(members[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def disjoint_groups(groups: np.ndarray, fractions: dict[str, float], seed: int,
                    strata: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Indices per split, with each group's every item (a voice's every variant or clip) in
    exactly one split.

    Within each stratum (an engine; all items one stratum by default) the groups are dealt
    largest first (ties in a seeded order), each to the split furthest below its share of the
    stratum's items, so the small splits are made of many small groups rather than one large
    one; while no more groups are left than splits without one, those splits come first, so
    every split has each stratum where it has enough groups.
    """
    groups = np.asarray(groups)
    strata = np.zeros(len(groups), dtype=int) if strata is None else np.asarray(strata)
    total = sum(fractions.values())
    rng = np.random.default_rng(seed)
    owner: dict[tuple, str] = {}
    for stratum in np.unique(strata):
        names, sizes = np.unique(groups[strata == stratum], return_counts=True)
        # what each split still lacks of its share of the stratum's items
        short = {s: f / total * sizes.sum() for s, f in fractions.items()}
        empty = list(fractions)  # the splits with no group of this stratum yet
        order = np.lexsort((rng.permutation(len(names)), -sizes))
        for k, i in enumerate(order):
            pool = empty if len(order) - k <= len(empty) else list(fractions)
            split = max(pool, key=short.__getitem__)
            owner[(stratum, names[i])] = split
            short[split] -= int(sizes[i])
            if split in empty:
                empty.remove(split)
    split_of = np.array([owner[(s, g)] for s, g in zip(strata, groups, strict=True)])
    return {split: np.flatnonzero(split_of == split) for split in fractions}

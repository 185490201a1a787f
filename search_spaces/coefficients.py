"""EfficientNet's compound coefficients carried over to a recurrent classifier (plain data).

EfficientNet (Tan & Le, 2019) scales depth, width and resolution together: depth
``d = alpha^phi``, width ``w = beta^phi``, resolution ``r = gamma^phi``, with
``alpha * beta^2 * gamma^2 ~= 2`` so the FLOPs about double per step of ``phi``; a small grid
search over (alpha, beta, gamma) at ``phi = 1`` fixes the coefficients, which are then used for
larger ``phi``. Here depth is the number of recurrent layers, width the hidden size, and the
embedding size stands in for resolution (the width of what enters the first layer).

The FLOPs model (per token, recurrent part only; the embedding lookup and the classifier are
left out): a layer with input size ``I`` and hidden size ``H`` has ``G`` gate blocks (4 for an
LSTM, 3 for a GRU), each a matrix-vector product with ``[x; h]``, i.e. ``2 G H (I + H)`` FLOPs
(a multiply and an add each). The first layer reads the embedding (``I = E``), the others the
layer below (``I = H``)::

    F(L, H, E) = 2 G H (E + H) + (L - 1) * 2 G H (2 H)

``G`` cancels in a ratio, so the constraint holds for any cell: the configuration at
``phi = 1`` must have ``F / F(base)`` within ``target`` times or divided by ``1 + tolerance``
(2 and 0.3: between 1.54x and 2.6x). The ratio is computed from the rounded sizes actually
trained, not from ``alpha * beta^2 * ...``: with ``E`` entering only the first layer no product of
powers is exact.

Rounding: every size is ``floor(base * coefficient^phi + 0.5)`` (half up), depth at least 1.
With a one-layer base depth moves in whole layers, so coefficients that give the same
configuration at ``phi = 1`` (alpha 1.5 and 2 both give 2 layers) cannot be told apart there:
the first in the candidate order (the smallest alpha, then beta, then gamma) is kept.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

__all__ = ["CompoundCoefficients", "recurrent_flops", "round_size"]

KEYS = ("num_layers", "hidden_size", "embedding_dim")


def recurrent_flops(num_layers: int, hidden_size: int, embedding_dim: int, gates: int = 4) -> int:
    """Per-token recurrent FLOPs of the stack (module docstring's model)."""
    h = hidden_size
    return 2 * gates * h * (embedding_dim + h) + (num_layers - 1) * 2 * gates * h * (2 * h)


def round_size(x: float) -> int:
    """Half up, at least 1: how a scaled depth, width or embedding size becomes a size."""
    return max(1, math.floor(x + 0.5))


@dataclass(frozen=True)
class CompoundCoefficients:
    """The coefficient search's space: a base configuration, the candidate coefficients tried
    at ``phi = 1``, and the ``phis`` the best coefficients are then scaled to."""

    base: dict
    alphas: tuple = (1.0, 2.0)
    betas: tuple = (1.0, 1.2, 1.4)
    gammas: tuple = (1.0, 2.0, 3.0)
    phis: tuple = (1, 2, 3)
    target: float = 2.0
    tolerance: float = 0.3

    def __post_init__(self) -> None:
        missing = [k for k in KEYS if k not in self.base]
        if missing:
            raise ValueError(f"the base configuration lacks {', '.join(missing)}")
        if 1 not in self.phis or min(self.phis) < 1:
            raise ValueError(f"phis {self.phis} must start at 1 (the searched step)")
        for name in ("alphas", "betas", "gammas"):
            if min(getattr(self, name)) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: coefficients scale up (>= 1)")

    def scaled(self, alpha: float, beta: float, gamma: float, phi: int) -> dict:
        """The sizes at ``phi`` (depth, hidden, embedding), rounded half up."""
        b = self.base
        return {"num_layers": round_size(b["num_layers"] * alpha ** phi),
                "hidden_size": round_size(b["hidden_size"] * beta ** phi),
                "embedding_dim": round_size(b["embedding_dim"] * gamma ** phi)}

    def ratio(self, sizes: dict) -> float:
        """FLOPs of ``sizes`` over the base's."""
        return recurrent_flops(*(sizes[k] for k in KEYS)) / recurrent_flops(
            *(self.base[k] for k in KEYS))

    def within(self, ratio: float) -> bool:
        return self.target / (1 + self.tolerance) <= ratio <= self.target * (1 + self.tolerance)

    def candidates(self) -> list[dict]:
        """The stage-1 configurations at ``phi = 1``: every (alpha, beta, gamma) but (1, 1, 1)
        whose FLOPs ratio is within the constraint, one per distinct configuration."""
        out, seen = [], set()
        for a, b, g in itertools.product(self.alphas, self.betas, self.gammas):
            if (a, b, g) == (1, 1, 1):
                continue
            sizes = self.scaled(a, b, g, 1)
            key = tuple(sizes.values())
            r = self.ratio(sizes)
            if self.within(r) and key not in seen:
                seen.add(key)
                out.append(self._point(sizes, a, b, g, 1, r))
        return out

    def stage1(self) -> list[dict]:
        """The base (``phi = 0``) and the candidates: what the search trains first."""
        return [self._point(dict(self.base), 1.0, 1.0, 1.0, 0, 1.0), *self.candidates()]

    def path(self, alpha: float, beta: float, gamma: float) -> list[dict]:
        """The configurations at the ``phis`` above 1 (``phi = 1`` ran in stage 1)."""
        return [self._point(s, alpha, beta, gamma, phi, self.ratio(s))
                for phi in sorted(self.phis) if phi > 1
                for s in [self.scaled(alpha, beta, gamma, phi)]]

    @property
    def n_trials(self) -> int:
        return len(self.stage1()) + sum(1 for p in self.phis if p > 1)

    @staticmethod
    def _point(sizes: dict, a: float, b: float, g: float, phi: int, ratio: float) -> dict:
        return {**{k: int(sizes[k]) for k in KEYS}, "phi": phi, "alpha": float(a),
                "beta": float(b), "gamma": float(g), "flops_ratio": round(float(ratio), 4)}

    def to_json(self) -> dict:
        return {"compound_coefficients": {**asdict(self), **{
            k: list(getattr(self, k)) for k in ("alphas", "betas", "gammas", "phis")}}}

    @classmethod
    def from_json(cls, data: dict) -> CompoundCoefficients:
        fields = dict(data["compound_coefficients"])
        for k in ("alphas", "betas", "gammas", "phis"):
            fields[k] = tuple(fields[k])
        return cls(**fields)

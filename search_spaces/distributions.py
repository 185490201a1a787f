"""What a search space may hold beside plain values: distributions a sampled search draws from.

Ray-free and Optuna-free on purpose: a space is plain data, and ``rnn_core.tuning`` turns it
into Ray Tune or Optuna distributions (their APIs move between releases). In a space:

- a scalar is fixed for every trial;
- a list is a grid axis under ``--search grid``, and a choice among its values under a sampled
  search (``random``, ``tpe``, ``nsga2``);
- ``Choice``, ``Uniform``, ``LogUniform`` and ``IntRange`` are drawn by a sampled search only
  (a grid cannot enumerate a range, so ``--search grid`` refuses them);
- ``Conditional(on, cases)`` draws from the distribution of the case another key took, e.g.
  a learning-rate range per optimizer.

A space is saved with its sweep (``to_json``/``from_json``) so ``--resume`` rebuilds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Choice", "Conditional", "Distribution", "IntRange", "LogUniform", "Uniform",
           "from_json", "has_distributions", "n_points", "to_json"]


@dataclass(frozen=True)
class Choice:
    """One of ``values``, each as likely a priori (bool, int, float or str)."""

    values: tuple

    def __init__(self, values) -> None:
        values = tuple(values)
        if not values:
            raise ValueError("Choice needs at least one value")
        if any(not isinstance(v, (bool, int, float, str)) for v in values):
            raise ValueError(f"Choice values must be bool, int, float or str: {values!r}")
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range(self, self.low, self.high)


@dataclass(frozen=True)
class LogUniform:
    """A float whose logarithm is uniform over ``[log low, log high]`` (learning rates)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_range(self, self.low, self.high)
        if self.low <= 0:
            raise ValueError(f"LogUniform needs low > 0, got {self.low}")


@dataclass(frozen=True)
class IntRange:
    """An integer from ``low`` to ``high``, both included; ``log``: uniform in log space
    (widths such as 32..512)."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high)):
            raise ValueError(f"IntRange bounds must be integers: {self.low!r}, {self.high!r}")
        _check_range(self, self.low, self.high)
        if self.log and self.low < 1:
            raise ValueError(f"IntRange(log=True) needs low >= 1, got {self.low}")


@dataclass(frozen=True)
class Conditional:
    """The distribution ``cases[value]`` for the value key ``on`` took in the same trial
    (``on`` must be a list or ``Choice`` of the space with a case for each of its values)."""

    on: str
    cases: dict

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.cases.items()
               if not isinstance(v, (Choice, Uniform, LogUniform, IntRange))}
        if not self.cases or bad:
            raise ValueError(f"Conditional on {self.on!r} needs a distribution per case: {bad}")

    def __hash__(self) -> int:
        return hash((self.on, tuple(sorted(self.cases.items(), key=lambda kv: str(kv[0])))))


Distribution = Choice | Uniform | LogUniform | IntRange | Conditional
_KINDS: dict[str, type] = {"choice": Choice, "uniform": Uniform, "loguniform": LogUniform,
                           "intrange": IntRange, "conditional": Conditional}


def _check_range(d, low, high) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f"{type(d).__name__} needs finite low < high, got {low}, {high}")


def has_distributions(space: dict[str, Any]) -> list[str]:
    """The keys of ``space`` that hold a distribution (what a grid cannot enumerate)."""
    return [k for k, v in space.items() if isinstance(v, Distribution)]


def n_points(space: dict[str, Any]) -> float:
    """How many distinct configurations the space holds: the product of its lists', choices'
    and integer ranges' sizes; ``inf`` with a float distribution."""
    n: float = 1
    for v in space.values():
        if isinstance(v, list):
            n *= len(v)
        elif isinstance(v, Choice):
            n *= len(v.values)
        elif isinstance(v, IntRange):
            n *= v.high - v.low + 1
        elif isinstance(v, (Uniform, LogUniform)):
            return math.inf
        elif isinstance(v, Conditional):
            sizes = [n_points({"x": d}) for d in v.cases.values()]
            if math.inf in sizes:
                return math.inf
            n *= max(sizes)  # at most; exact only when every case is as large
    return n


def _encode(v):
    kind = next(name for name, cls in _KINDS.items() if isinstance(v, cls))
    if isinstance(v, Choice):
        fields = {"values": list(v.values)}
    elif isinstance(v, Conditional):  # JSON keys are strings: the cases as pairs
        fields = {"on": v.on, "cases": [[c, _encode(d)] for c, d in v.cases.items()]}
    else:
        fields = dict(vars(v))
    return {"dist": kind, **fields}


def _decode(v: dict):
    args = {f: x for f, x in v.items() if f != "dist"}
    if v["dist"] == "conditional":
        args["cases"] = {c: _decode(d) for c, d in args["cases"]}
    return _KINDS[v["dist"]](**args)


def to_json(space):
    """The space as JSON-able data: a distribution becomes ``{"dist": kind, ...}``; a union of
    grids (``search_spaces.grids``) a list of them; a space with its own ``to_json`` (the
    compound coefficients) what that gives."""
    if isinstance(space, list | tuple):
        return [to_json(g) for g in space]
    if hasattr(space, "to_json"):
        return space.to_json()
    return {k: _encode(v) if isinstance(v, Distribution) else v for k, v in space.items()}


def from_json(data):
    """The inverse of ``to_json``."""
    if isinstance(data, list):
        return [from_json(g) for g in data]
    if isinstance(data, dict) and "compound_coefficients" in data:
        from search_spaces.coefficients import CompoundCoefficients

        return CompoundCoefficients.from_json(data)
    return {k: _decode(v) if isinstance(v, dict) and v.get("dist") in _KINDS else v
            for k, v in data.items()}

"""A sweep that is not one Cartesian grid: a union of grids, each configuration run once.

Plain data, like the rest of ``search_spaces``: a space may be a *list of grids* (each a dict
as a study's ``GRID`` is), and the sweep runs every configuration of every grid, one that two
grids share only once. ``one_axis_at_a_time`` builds the union a one-factor study needs: one
grid per axis, the other axes held at a centre, the centre itself in every grid (so it runs once
and stands on every axis's curve).
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["count_given", "given_points", "is_union", "one_axis_at_a_time", "point_keys",
           "replace_axis", "union_axes", "union_points"]


def is_union(space: Any) -> bool:
    """Whether ``space`` is a union of grids (a list of dicts) rather than one grid."""
    return isinstance(space, list | tuple)


def one_axis_at_a_time(center: dict[str, Any], axes: dict[str, list]) -> list[dict[str, Any]]:
    """One grid per axis: that axis's values, every other key of ``center`` fixed.

    Raises ValueError for an axis ``center`` does not hold, or one without its centre value
    (the axes would then share no configuration to compare against).
    """
    for key, values in axes.items():
        if key not in center:
            raise ValueError(f"axis {key!r} has no centre value")
        if center[key] not in values:
            raise ValueError(f"axis {key} {values} leaves out its centre value {center[key]}")
    return [{**center, key: list(values)} for key, values in axes.items()]


def union_points(grids: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every configuration of every grid, in order, each once (lists are axes)."""
    seen, out = set(), []
    for grid in grids:
        keys = list(grid)
        axes = [grid[k] if isinstance(grid[k], list) else [grid[k]] for k in keys]
        for values in itertools.product(*axes):
            point = dict(zip(keys, values, strict=True))
            key = tuple(sorted((k, repr(v)) for k, v in point.items()))
            if key not in seen:
                seen.add(key)
                out.append(point)
    return out


def union_axes(grids: list[dict[str, Any]]) -> dict[str, Any]:
    """Each key's values over the union: a list where the grids vary it, else its one value
    (what a task's ``data_options`` and the option checks read)."""
    values: dict[str, list] = {}
    for point in union_points(grids):
        for k, v in point.items():
            if v not in values.setdefault(k, []):
                values[k].append(v)
    return {k: v if len(v) > 1 else v[0] for k, v in values.items()}


def replace_axis(grids: list[dict[str, Any]], key: str, values: list) -> list[dict[str, Any]]:
    """The union with ``key``'s axis replaced by ``values`` in every grid that varies it."""
    return [{**g, key: list(values)} if isinstance(g.get(key), list) else dict(g) for g in grids]


def given_points(space: Any) -> bool:
    """Whether a sweep runs configurations given one by one: a union of grids, or the
    compound coefficients (``search_spaces.coefficients``)."""
    from search_spaces.coefficients import CompoundCoefficients

    return is_union(space) or isinstance(space, CompoundCoefficients)


def count_given(space: Any, num_samples: int = 1) -> int:
    """The trials of a given-points sweep: a union's configurations times its seeds, or the
    coefficient search's two stages."""
    if is_union(space):
        return len(union_points(space)) * num_samples
    return space.n_trials


def point_keys(space: Any) -> set[str]:
    """The keys a union's configurations set (none for other spaces)."""
    return set(union_axes(space)) if is_union(space) else set()

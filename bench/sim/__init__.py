"""Sweeps in simulated time: a stand-in for Ray Tune's controller that drives the product's
real scheduler and searcher on flat, synthetic or replayed learning curves, the rules of
asynchronous successive halving checked from outside the scheduler, and searches replayed on
a recorded table.

They measure and test the product (``bench/asha_sim.py``, ``bench/asha_slots.py``,
``bench/search.py`` and the tests); no sweep runs through them.
"""

from bench.sim.controller import METRIC, SimConfig, SimController, SimResult, simulate
from bench.sim.curves import Curves
from bench.sim.rules import Referee, check_log, sha_budget
from bench.sim.table import Table, load_table
from bench.sim.tabular import Replay, replay

__all__ = ["METRIC", "Curves", "Referee", "Replay", "SimConfig", "SimController", "SimResult",
           "Table", "check_log", "load_table", "replay", "sha_budget",
           "simulate"]

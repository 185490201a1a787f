"""The driver's costs that grew faster than the trial count, each as it was and as it is,
measured side by side at 250, 500 and 1,000 trials (``docs/scale.md``).

    python bench/scale_parts.py                  # ~2 min on 2 CPU cores
    python bench/scale_parts.py --trials 250 1000 --json parts.json

- ASHA's state saved after every change: a whole snapshot each time (as it was) against the
  journal (``rnn_core/tuning/_asha_state.py``), over a simulated sweep (``bench.sim``) of the
  trials on 64 slots: seconds spent saving.
- An ask of TPE (under ``RungSampler``, as a sweep under ASHA asks) from a study of that many
  trials, two thirds of them RUNNING with an epoch reported (waiting at a rung): through
  Optuna's own cache of the SQLite study (as it was) against ``StudyCache``; CPU ms per ask.
- A commit to a SQLite file in its default rollback-journal mode against the write-ahead log
  synced at checkpoints (``rnn_core/tuning/_sqlite.py``); ms per commit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

SIZES = (250, 500, 1000)
SLOTS, ASKS = 64, 20


def state_saving(n: int, whole: bool) -> float:
    """Seconds spent saving ASHA's state over a simulated sweep of ``n`` trials on 64 slots;
    ``whole``: a snapshot at every save, as it was."""
    from bench.sim import METRIC, SimConfig, simulate
    from rnn_core.tuning import PromotionASHA

    spent = [0.0]

    class Timed(PromotionASHA):
        def _save(self) -> None:
            t0 = time.perf_counter()
            self._state.save(whole=whole)
            spent[0] += time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SimConfig(n_trials=n, slots=SLOTS, curves="synthetic")
        simulate(lambda c: Timed(c.n_trials, c.grace, c.max_t, c.rf, metric=METRIC, mode="max",
                                 state_file=Path(tmp, "asha.json"), slots=c.slots), cfg, seed=0)
    return spent[0]


def ask_ms(n: int, cached: bool) -> float:
    """CPU ms per ask of TPE under ``RungSampler`` from a study of ``n`` trials, two thirds
    RUNNING with an intermediate value; ``cached``: through ``StudyCache``."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from bench.replay import SPACE
    from rnn_core.tuning import StudyCache, make_sampler, optuna_space, write_ahead

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampled, conditional, _ = optuna_space(SPACE)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/optuna.db"
        write_ahead(url)
        storage = StudyCache(url) if cached else optuna.storages.RDBStorage(url)
        study = optuna.create_study(storage=storage, study_name="s", direction="maximize",
                                    sampler=make_sampler("tpe", n, 0, sampled, conditional,
                                                         rungs=True))
        for i in range(n):
            params = {k: d.to_external_repr(rng.choice(range(len(d.choices))))
                      if hasattr(d, "choices") else rng.uniform(d.low, d.high)
                      for k, d in sampled.items()}
            waiting = i % 3 != 0
            study.add_trial(create_trial(
                state=TrialState.RUNNING if waiting else TrialState.COMPLETE,
                value=None if waiting else rng.random(), params=params,
                distributions=sampled, intermediate_values={1: rng.random()}))
        cpu = []
        for _ in range(ASKS):
            t0 = time.thread_time()
            trial = study.ask(fixed_distributions=sampled)
            cpu.append(time.thread_time() - t0)
            study.tell(trial, state=TrialState.PRUNED)
    return 1e3 * sum(cpu) / len(cpu)


def commit_ms(wal: bool, commits: int = 200) -> float:
    """Wall ms per one-row commit to a SQLite file."""
    with tempfile.TemporaryDirectory() as tmp, \
            contextlib.closing(sqlite3.connect(Path(tmp, "c.db"), isolation_level=None)) as con:
        if wal:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
        con.execute("CREATE TABLE t (a, b)")
        t0 = time.perf_counter()
        for i in range(commits):
            con.execute("BEGIN")
            con.execute("INSERT INTO t VALUES (?, ?)", (i, i))
            con.execute("COMMIT")
        return 1e3 * (time.perf_counter() - t0) / commits


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    rows = []
    print(f"{'trials':>6} {'save s whole':>12} {'journal':>8} {'ask ms optuna':>13} "
          f"{'cached':>7}", flush=True)
    for n in args.trials:
        ws, js = state_saving(n, True), state_saving(n, False)
        oa, ca = ask_ms(n, False), ask_ms(n, True)
        rows.append({"trials": n, "save_s_whole": ws, "save_s_journal": js,
                     "ask_ms_optuna_cache": oa, "ask_ms_study_cache": ca})
        print(f"{n:>6} {ws:>12.2f} {js:>8.2f} {oa:>13.1f} {ca:>7.1f}", flush=True)
    rollback, wal = commit_ms(False), commit_ms(True)
    print(f"commit: rollback journal {rollback:.2f} ms, write-ahead log {wal:.3f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "commit_ms_rollback": rollback,
                                               "commit_ms_wal": wal}, indent=1))


if __name__ == "__main__":
    main()

"""The platform at scale, through real Ray: replay sweeps of 250, 500 and 1,000 trials.

    python bench/scale.py                                  # 250, 500, 1000 trials (~15 min)
    python bench/scale.py --trials 100 --cpus 16 --time-scale 0.05 --json scale.json
    python bench/scale.py --trials 1000 --profile driver.prof   # cProfile of the driver
    python bench/scale.py --stream 300                      # an open stream: 300 s of TPE

Each sweep is a real one (``SweepSpec``, ``run_sweep``): Ray Tune on one local instance of
``--cpus`` logical CPUs (one a trial), ASHA by promotion (grace 1, reduction factor 3, 4
epochs: rungs at 1 and 3) with speculative promotions, Optuna's TPE in its SQLite study, the
MLflow callback into a SQLite store, and the report at the end. Its trials are the replay task
(``bench/replay.py``): each epoch sleeps its recorded seconds times ``--time-scale`` and
reports the recorded results, with no torch anywhere.

The ideal makespan is the same trials (the configurations TPE asked for, in the order it was
asked) run by the simulated controller (``bench.sim``) with the real scheduler, the same slots
and epoch times and no overhead at all. Per size, in a process of its own: the sweep's wall
(``run_sweep``, Ray's start included) and the span of its trials (first start to last end)
against that makespan, the driver's CPU seconds and peak RSS, MLflow writes (client calls that
write) per second of the span, the time of each scheduler and searcher call (the scheduler's
stops run the trial's MLflow callback inside its call), the report's seconds, and the rules of
ASHA checked on the scheduler's log (``bench.sim.check_log``).

``--stream S``: one open stream instead (``--num-samples 0 --time-budget S``: new trials from
TPE whenever a slot is free, until S seconds are spent). Its ideal is the simulated stream
(``bench.sim.stream``, ``ideal_makespan`` with a budget) over the real trials' span with the
configurations TPE asked for, in order, then more of the same with new replicas: the trials
and trial-epochs a sweep with no overhead fits in the same time, and its slots' utilisation.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

SIZES = (250, 500, 1000)
EPOCHS, GRACE, RF = 4, 1, 3
# MLflow client calls that write to the store
WRITES = ("create_run", "log_batch", "set_tag", "set_terminated", "update_run", "log_artifact",
          "log_artifacts")


class Calls:
    """Counts and times calls of methods wrapped on their classes: per label, calls, CPU
    seconds of this thread, wall seconds, the longest call's wall seconds."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}

    def wrap(self, cls: type, name: str, label: str) -> None:
        fn = getattr(cls, name)
        stats = self.stats.setdefault(label, [0, 0.0, 0.0, 0.0])

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            c0, w0 = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                wall = time.perf_counter() - w0
                stats[0] += 1
                stats[1] += time.thread_time() - c0
                stats[2] += wall
                stats[3] = max(stats[3], wall)

        setattr(cls, name, timed)

    def summary(self) -> dict[str, dict]:
        return {k: {"calls": int(n), "cpu_s": c, "wall_s": w, "mean_ms": 1e3 * w / n if n else 0,
                    "max_ms": 1e3 * m} for k, (n, c, w, m) in self.stats.items()}


def _instrument() -> Calls:
    from mlflow.tracking import MlflowClient
    from ray.tune.search.optuna import OptunaSearch

    from rnn_core.tuning import PromotionASHA

    calls = Calls()
    for hook in ("on_trial_add", "on_trial_result", "choose_trial_to_run", "on_trial_complete",
                 "on_trial_remove", "takes_new_trial"):
        calls.wrap(PromotionASHA, hook, f"scheduler.{hook}")
    for hook in ("suggest", "on_trial_result", "on_trial_complete"):
        calls.wrap(OptunaSearch, hook, f"searcher.{hook}")
    for name in WRITES:
        calls.wrap(MlflowClient, name, f"mlflow.{name}")
    return calls


def _spec(n: int, cpus: int, scale: float, folder: Path, budget: float | None = None):
    """``n`` trials; ``budget``: an open stream (``n`` 0) for that many seconds."""
    from bench.replay import SPACE
    from rnn_core.tuning import SweepSpec

    return SweepSpec(study="scale", task="replay", param_space=SPACE,
                     base_config={"seed": 0, "time_scale": scale}, max_epochs=EPOCHS,
                     scheduler="asha", grace_period=GRACE, reduction_factor=RF, num_samples=n,
                     search="tpe", storage_path=str(folder / "ray"),
                     tracking_uri=f"sqlite:///{folder}/mlruns.db", experiment_name="scale",
                     local_cpus=cpus, time_budget_s=budget)


def ideal_makespan(trials: list[dict], data: dict, slots: int, budget: float | None = None):
    """``trials`` (configurations, in the order they were asked) on the simulated controller
    with the real scheduler and no overhead (``bench.sim.SimResult``: makespan, utilisation,
    the rules it broke). ``budget``: an open stream over that many seconds, with ``trials``
    first, then the same again nine times over with new replicas, should it fit more."""
    import random

    from bench.replay import curve
    from bench.sim import Curves, SimConfig, simulate
    from rnn_core.tuning import PromotionASHA

    rng = random.Random(0)
    more = [{**c, "replica": rng.random()} for c in trials * 9] if budget else []
    values, times = [], []
    for config in trials + more:
        val, sec = curve(config, data)
        values.append([max(val[:e]) for e in range(1, EPOCHS + 1)])  # the objective
        times.append(sec[:EPOCHS])
    cfg = SimConfig(n_trials=len(trials), slots=slots, max_t=EPOCHS, grace=GRACE, rf=RF,
                    save_share=0.0, max_pending=slots, time_budget=budget)
    n = None if budget else len(trials)  # an open stream's scheduler has no trial count
    return simulate(lambda c: PromotionASHA(n, c.grace, c.max_t, c.rf, metric="score",
                                            mode="max", slots=slots),
                    cfg, seed=0, curves=Curves.given(values, times))


def busy(client, runs, slots: int) -> tuple[float, float, float]:
    """From the trials' epochs as MLflow holds them (each ends when it was logged and lasted
    its ``epoch_seconds``): the share of the slots' time from the first epoch's start to the
    last one's end spent in epochs; the seconds until ``slots`` trials had started one (the
    slots filling at the start, as Ray's workers start); the slot-seconds left idle then."""
    spans, firsts = [], []
    for r in runs:
        epochs = [(m.timestamp / 1e3 - m.value, m.timestamp / 1e3)
                  for m in client.get_metric_history(r.info.run_id, "epoch_seconds")]
        spans += epochs
        if epochs:  # none: a stream's trial that the budget stopped in its first epoch
            firsts.append(min(a for a, _ in epochs))
    start, end = min(a for a, _ in spans), max(b for _, b in spans)
    firsts.sort()
    fill = firsts[min(slots, len(firsts)) - 1] - firsts[0]
    used = sum(max(0.0, min(b, start + fill) - a) for a, b in spans)
    return sum(b - a for a, b in spans) / (slots * (end - start)), fill, slots * fill - used


def _asked(storage: str, study: str, scale: float, max_epochs: int) -> list[dict]:
    """The configurations the sweep's Optuna study asked for, in asking order."""
    import optuna

    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    return [{**t.params, "time_scale": scale, "max_epochs": max_epochs}
            for t in sorted(trials, key=lambda t: t.number)]


def one(n: int, cpus: int, scale: float, profile: str | None, keep: str | None = None,
        budget: float | None = None) -> dict:
    """One sweep of ``n`` trials in this process (``budget``: an open stream for that many
    seconds); its figures (``keep``: move its stores and Ray folder there)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    calls = _instrument()
    from mlflow.tracking import MlflowClient

    from bench.replay import TASK
    from bench.sim import check_log
    from reports.studies import report_builder
    from rnn_core import tuning

    folder = Path(tempfile.mkdtemp(prefix=f"scale-{n}-"))
    try:
        spec = _spec(0 if budget else n, cpus, scale, folder, budget)
        data, info = TASK.prepare(None, 0, {})
        devnull = open(os.devnull, "w")  # noqa: SIM115  the progress lines: 5 a trial
        stdout, sys.stdout = sys.stdout, devnull
        try:
            started = time.time()
            if profile:
                import cProfile

                prof = cProfile.Profile()
                outcome = prof.runcall(tuning.run_sweep, spec, data, data_info=info)
                prof.dump_stats(profile)
            else:
                outcome = tuning.run_sweep(spec, data, data_info=info)
            ended = time.time()
        finally:
            sys.stdout = stdout
        usage = resource.getrusage(resource.RUSAGE_SELF)  # the sweep's, without the report
        t0 = time.perf_counter()
        report_builder("scale")(spec.tracking_uri, outcome.parent_run_id, folder / "report")
        report_s = time.perf_counter() - t0
        client = MlflowClient(spec.tracking_uri)
        runs = client.search_runs([outcome.experiment_id],
                                  f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'",
                                  max_results=5000)
        first, last = (min(r.info.start_time for r in runs) / 1e3,
                       max(r.info.end_time for r in runs) / 1e3)
        stats = calls.summary()  # before the simulation, which calls the scheduler too
        study, storage = outcome.optuna_study
        asked = _asked(storage, study, scale, EPOCHS)
        sim = ideal_makespan(asked, data, cpus, last - first if budget else None)
        ideal = sim.makespan
        utilisation, fill, idle_fill = busy(client, runs, cpus)
        state = json.loads(next((folder / "ray" / ".rnn_sweeps").glob("*/asha_rungs.json"))
                           .read_text())
        writes = sum(stats[f"mlflow.{w}"]["calls"] for w in WRITES)
        return {"trials": len(asked), "cpus": cpus, "time_scale": scale, "budget_s": budget,
                "ideal_trials": sim.trials, "ideal_epochs": sim.epochs,
                "statuses": outcome.trials,
                # the machine's load (1-minute average) at the end: other work on its cores
                "load": os.getloadavg()[0],
                "epochs": outcome.epochs, "wall_s": outcome.seconds, "span_s": last - first,
                "start_s": first - started, "end_s": ended - last,
                "ideal_s": ideal, "span_over_ideal": (last - first) / ideal,
                "utilisation": utilisation, "ideal_utilisation": sim.utilisation,
                "fill_s": fill,
                # the span less the makespan the slots' filling cost (its idle slot-time over
                # the slots), against the ideal: the overhead once every worker has started
                "filled_over_ideal": (last - first - idle_fill / cpus) / ideal,
                "wall_over_ideal": outcome.seconds / ideal,
                "driver_cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_mib": usage.ru_maxrss / 1024, "mlflow_writes": writes,
                "mlflow_writes_per_s": writes / (last - first), "report_s": report_s,
                "runs_complete": sum(r.info.status in ("FINISHED", "KILLED") for r in runs),
                # a spent budget stops the trials paused at a rung where they are: they stay
                # waiting in its log, as in tests/test_time_budget.py; every other rule holds
                "rules_broken": [v for v in check_log(state, RF, exact=True)
                                 if not (budget and v.endswith("left waiting"))],
                "sim_broken": sim.violations,
                "calls": stats}
    finally:
        import ray

        ray.shutdown()
        if keep:
            shutil.move(str(folder), keep)
        shutil.rmtree(folder, ignore_errors=True)


def _child(n: int, args) -> dict:
    """``one`` in a fresh process, with a Ray temporary folder of its own."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    out = ray_tmp / "figures.json"
    cmd = [sys.executable, __file__, "--one", str(n), "--cpus", str(args.cpus),
           "--time-scale", str(args.time_scale), "--out", str(out)]
    if args.stream:
        cmd += ["--stream", str(args.stream)]
    if args.profile:
        cmd += ["--profile", args.profile]
    if args.keep:
        cmd += ["--keep", f"{args.keep}-{n}"]
    try:
        subprocess.run(cmd, check=True, env={**os.environ, "RAY_TMPDIR": str(ray_tmp),
                                             "PYTHONPATH": str(ROOT)})
        return json.loads(out.read_text())
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def line(r: dict) -> str:
    c = r["calls"]
    sched = sum(v["cpu_s"] for k, v in c.items() if k.startswith("scheduler."))
    return (f"{r['trials']:>6} {r['wall_s']:>6.1f} {r['start_s']:>5.1f} {r['span_s']:>6.1f} "
            f"{r['end_s']:>4.1f} {r['ideal_s']:>6.1f} {r['span_over_ideal']:>6.3f} "
            f"{r['wall_over_ideal']:>6.3f} {r['fill_s']:>5.1f} {r['filled_over_ideal']:>6.3f} "
            f"{r['utilisation']:>5.3f} "
            f"{r['ideal_utilisation']:>5.3f} {r['driver_cpu_s']:>6.1f} "
            f"{1e3 * r['driver_cpu_s'] / r['trials']:>6.0f} {r['peak_rss_mib']:>5.0f} "
            f"{r['mlflow_writes_per_s']:>6.1f} {sched:>6.2f} "
            f"{c['searcher.suggest']['mean_ms']:>6.1f} {r['report_s']:>6.1f} "
            f"{len(r['rules_broken']):>5} {r['load']:>5.1f}")


HEADER = (f"{'trials':>6} {'wall':>6} {'start':>5} {'span':>6} {'end':>4} {'ideal':>6} "
          f"{'span/i':>6} {'wall/i':>6} {'fill':>5} {'fill/i':>6} {'util':>5} {'i-util':>5} "
          f"{'cpu s':>6} "
          f"{'ms/tr':>6} {'RSS':>5} {'mlfl/s':>6} {'sched':>6} {'ask':>6} {'report':>6} "
          f"{'broke':>5} {'load':>5}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--cpus", type=int, default=64, help="the local instance's logical CPUs")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="seconds slept per recorded second of an epoch (epochs of 3-53 s at 1: "
                        "the driver's work stays a fraction of the slots' on 2 cores)")
    p.add_argument("--profile", help="write a cProfile of the (last) driver here")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--keep", help="keep each sweep's folder (stores, Ray results) as KEEP-N")
    p.add_argument("--stream", type=float, metavar="S",
                   help="one open stream of S seconds (TPE, --num-samples 0 --time-budget S) "
                        "in place of the trial counts")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        Path(args.out).write_text(json.dumps(one(args.one, args.cpus, args.time_scale,
                                                 args.profile, args.keep, args.stream)))
        os._exit(0)  # Ray's and MLflow's exit hooks: nothing left to close
    print(f"{args.cpus} logical CPUs, time scale {args.time_scale}; seconds unless named: "
          "start/end before the first trial and after the last; fill until every slot had "
          "a trial; fill/i the span less the makespan the filling cost, over the ideal; "
          "util(isation) of the slots in the span, i-util the ideal's; ms/tr driver "
          "CPU per trial; RSS peak MiB; mlfl/s MLflow writes per second; sched the "
          "scheduler's CPU s; ask the searcher's mean ms; load the machine's at the end")
    if args.stream:
        args.trials = [1]  # one stream; its trials are what TPE asked for in the budget
    print(HEADER, flush=True)
    rows = []
    for n in args.trials:
        rows.append(_child(n, args))
        print(line(rows[-1]), flush=True)
        if args.stream:
            r = rows[-1]
            print(f"open stream of {args.stream:g} s: {r['trials']} trials, {r['epochs']} "
                  f"trial-epochs in the span; with no overhead in the same span "
                  f"{r['ideal_trials']} trials, {r['ideal_epochs']} trial-epochs "
                  f"(real / ideal {r['epochs'] / r['ideal_epochs']:.3f}); slots busy "
                  f"{r['utilisation']:.3f} (ideal {r['ideal_utilisation']:.3f})", flush=True)
    for r in rows:
        print(f"\n{r['trials']} trials: {r['statuses']}, {r['epochs']} trial-epochs; calls "
              "(count, mean ms, max ms, CPU s):")
        for k, v in sorted(r["calls"].items()):
            if v["calls"]:
                print(f"  {k:<32} {v['calls']:>7} {v['mean_ms']:>8.3f} {v['max_ms']:>8.1f} "
                      f"{v['cpu_s']:>7.2f}")
        for broken in r["rules_broken"][:3] + r["sim_broken"][:3]:
            print(f"  {broken}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

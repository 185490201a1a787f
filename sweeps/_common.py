"""What every study script shares: its options, their checks, and the run -> report flow."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from rnn_core.errors import ConfigError, DataError

SCHEDULERS = ("asha", "sha", "fifo")
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"{text!r} is not a comma-separated list of integers"
        raise argparse.ArgumentTypeError(msg) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least 1")
    return values


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
        return value

    return parse


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


@dataclass(frozen=True)
class Axis:
    """A command-line option that replaces one grid axis, e.g. ``--layers 1,2``."""

    flag: str
    key: str  # the grid key it replaces
    parse: Callable[[str], list]
    help: str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


# compound scaling's axis options (the default, so its CLI stays as it was)
SCALING_AXES: tuple[Axis, ...] = (
    Axis("--layers", "num_layers", _int_list, "override the grid, e.g. 1,2"),
    Axis("--hidden", "hidden_size", _int_list, "override the grid, e.g. 100,200"),
    Axis("--embedding", "embedding_dim", _int_list, "override the grid, e.g. 32,64"),
)


def build_parser(doc: str | None, space: ModuleType,
                 axes: Sequence[Axis] = SCALING_AXES) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--preset", choices=sorted(k for k in space.PRESETS if k != "smoke"),
                   default="full", help="data size and epochs (default: full)")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny grid on a tiny subset: finishes in under 2 minutes on CPU")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="asha",
                   help="asha: a trial pauses at each rung; as trials arrive there, the best "
                        "1/factor of them go on (val_acc), the rest stop; sha: synchronous "
                        "successive halving (all trials reach a rung, then the best 1/factor "
                        "go on); fifo: run every trial fully")
    p.add_argument("--max-epochs", type=_positive(int), help="epochs per trial (preset default)")
    p.add_argument("--grace-period", type=_positive(int), default=1,
                   help="ASHA/SHA: epochs before a trial can be stopped (default 1)")
    p.add_argument("--reduction-factor", type=_positive(float), default=3,
                   help="ASHA/SHA: keep the top 1/factor at each rung (default 3)")
    p.add_argument("--num-samples", type=_positive(int), default=1,
                   help="repeat the whole grid this many times (default 1)")
    for axis in axes:
        p.add_argument(axis.flag, type=axis.parse, dest=axis.dest, help=axis.help)
    p.add_argument("--train-subset", type=_positive(int),
                   help="train on this many reviews of the training split (preset default)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="override the recipe's optimizer")
    p.add_argument("--lr", type=_positive(float), help="override the recipe's learning rate")
    p.add_argument("--cpus-per-trial", type=_positive(float), default=1,
                   help="CPUs (and torch threads) per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=_non_negative_float, default=0,
                   help="GPUs per trial; fractions pack several trials on one GPU (default 0)")
    p.add_argument("--address", help="join a running Ray cluster: auto, or host:port")
    p.add_argument("--storage-path", default="ray_results",
                   help="Ray Tune results and checkpoints (shared storage on a cluster)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, batching and weights")
    p.add_argument("--data-path", help="an aclImdb/ folder or a review,sentiment CSV "
                                       "(default: IMDB fetched once into the data cache)")
    p.add_argument("--tracking-uri", default="sqlite:///mlruns.db", help="MLflow store")
    p.add_argument("--experiment-name", default="rnn-sweeps", help="MLflow experiment")
    p.add_argument("--max-failures", type=int, default=0,
                   help="retry a failing trial this many times from its last checkpoint")
    p.add_argument("--resume", nargs="?", const="latest", metavar="DIR",
                   help="continue an interrupted sweep: its Ray folder, or the newest "
                        "unfinished one under --storage-path")
    p.add_argument("--report-dir", help="also write the report here (default: only in MLflow)")
    return p


def _check(args: argparse.Namespace) -> None:
    if args.data_path is not None and not Path(args.data_path).exists():
        raise DataError(f"--data-path {args.data_path} does not exist; expected an aclImdb/ "
                        "folder or a CSV file with columns review,sentiment")
    if args.gpus_per_trial > 1 and args.gpus_per_trial != int(args.gpus_per_trial):
        raise ConfigError(f"--gpus-per-trial {args.gpus_per_trial}: above 1 it must be whole")
    if args.scheduler == "fifo" and args.grace_period != 1:
        raise ConfigError("--grace-period only applies to --scheduler asha or sha")
    if args.max_epochs is not None and args.grace_period > args.max_epochs:
        raise ConfigError(f"--grace-period {args.grace_period} exceeds --max-epochs "
                          f"{args.max_epochs}")
    if args.max_failures < 0:
        raise ConfigError(f"--max-failures {args.max_failures} must be 0 or more")
    if args.resume not in (None, "latest") and not Path(args.resume).is_dir():
        raise ConfigError(f"--resume {args.resume} is not a folder; expected a sweep's Ray "
                          "results folder, or --resume alone for the newest unfinished sweep")
    if not args.experiment_name.strip():
        raise ConfigError("--experiment-name must not be empty")


def _embedding_names(grid: dict, base: dict) -> list[str]:
    """The pretrained inputs a grid asks for (the ``embedding`` axis or fixed value)."""
    values = grid.get("embedding", base.get("embedding", "learned"))
    values = values if isinstance(values, list) else [values]
    return sorted({str(v) for v in values} - {"learned"})


def attach_embeddings(corpus, names: Sequence[str], train_subset: int | None,
                      seed: int) -> None:
    """Build each pretrained embedding matrix once, on the driver, into ``corpus.embeddings``.

    ``word2vec300`` is trained on the training split the trials train on (the same seeded
    subset), decoded from its ids (``<pad>``/``<unk>`` dropped), and cached by corpus, split,
    size and seed. Coverage counts the tokens of that split.
    """
    if not names:
        return
    import numpy as np

    from rnn_core.data import vectors

    train = corpus.splits["train"].subset(train_subset, seed)
    counts = np.bincount(np.asarray(train.tokens), minlength=corpus.vocab_size)
    token_counts = {w: int(c) for w, c in zip(corpus.itos, counts, strict=True) if c}
    corpus_id = hashlib.sha1(json.dumps([corpus.stats.get("source"),
                                         corpus.stats.get("options")], sort_keys=True,
                                        default=str).encode()).hexdigest()[:10]
    cache_key = f"imdb-train-{corpus_id}-n{len(train)}-seed{seed}"
    sentences = None
    for name in names:
        t0 = time.perf_counter()
        if name == "word2vec300" and sentences is None:
            itos = np.asarray(corpus.itos, dtype=object)
            sentences = [itos[ids[ids > 1]].tolist() for ids in
                         (np.asarray(train.tokens[a:b]) for a, b in
                          zip(train.offsets[:-1], train.offsets[1:], strict=True))]
        try:
            kv = vectors.resolve_vectors(name, train_sentences=sentences, cache_key=cache_key)
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(f"embedding {name!r}: {exc}") from exc
        weights, coverage = vectors.embedding_matrix(kv, corpus.itos, pad_index=corpus.pad_index,
                                                     seed=seed, counts=token_counts)
        corpus.embeddings[name] = weights
        corpus.embedding_coverage[name] = coverage
        logging.info("embedding %s: %s x %d, vocab coverage %.3f, token coverage %.3f (%.1f s)",
                     name, weights.shape[0], weights.shape[1], coverage["vocab_coverage"],
                     coverage["token_coverage"], time.perf_counter() - t0)


def run_study(study: str, args: argparse.Namespace, space: ModuleType,
              parser: argparse.ArgumentParser, axes: Sequence[Axis] = SCALING_AXES,
              report: Callable[[str, str, Path], str] | None = None) -> int:
    """Check options, encode data once on the driver, sweep, report. Returns an exit code.

    Args:
        study: the study's name (Ray folder and MLflow parent run prefix).
        args: parsed options of ``build_parser(doc, space, axes)``.
        space: the search-space module (``GRID``, ``RECIPE``, ``PRESETS``).
        parser: the parser (kept for the signature the scripts call).
        axes: the grid-axis options the parser has.
        report: ``(tracking_uri, parent_run_id, folder) -> summary``; default the
            compound-scaling report (``reports.build_report``).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _check(args)
    preset_name = "smoke" if args.smoke_test else args.preset
    preset = dict(space.PRESETS[preset_name])
    grid = {**space.GRID, **preset.pop("grid", {})}
    for axis in axes:
        if getattr(args, axis.dest, None):
            grid[axis.key] = getattr(args, axis.dest)
    max_epochs = args.max_epochs or preset.pop("max_epochs")
    preset.pop("max_epochs", None)
    if args.train_subset:
        preset["train_subset"] = args.train_subset
    recipe = dict(space.RECIPE)
    if args.optimizer:
        recipe["optimizer"] = args.optimizer
    if args.lr:
        recipe["lr"] = args.lr

    from rnn_core import tuning
    from rnn_core.data.imdb import load_imdb, source_id
    from rnn_core.data.text import TextOptions, encode_corpus
    from rnn_core.memory import release_memory

    resume = None
    data_path, seed, tracking_uri = args.data_path, args.seed, args.tracking_uri
    embeddings = _embedding_names(grid, {**recipe, **preset})
    emb_subset = preset.get("train_subset")
    if args.resume is not None:
        resume = (tuning.find_resumable(args.storage_path, study) if args.resume == "latest"
                  else Path(args.resume))
        meta = tuning.sweep_meta(resume)
        if meta["sweep_params"].get("scheduler") == "sha":
            raise ConfigError(f"--resume {resume}: this sweep ran with --scheduler sha, whose "
                              "rung barrier cannot be restored; start it again (asha and fifo "
                              "sweeps resume)")
        data_path = meta["sweep_params"].get("data_path")
        seed, tracking_uri = meta["sweep_params"]["seed"], meta["tracking_uri"]
        embeddings = list(meta["sweep_params"].get("embeddings", []))
        emb_subset = meta["sweep_params"].get("embedding_train_subset")
        print(f"resuming {resume} (MLflow parent run {meta['parent_run_id']})")
    tuning.check_tracking(tracking_uri, args.experiment_name)  # fails before any work
    t0 = time.perf_counter()
    corpus = encode_corpus(None, source_id(data_path), TextOptions(seed=seed),
                           load_frame=lambda: load_imdb(data_path))
    logging.info("data: vocabulary %d, examples %s, tokens %s (%.1f s)", corpus.vocab_size,
                 corpus.stats["examples"], corpus.stats["tokens"], time.perf_counter() - t0)
    attach_embeddings(corpus, embeddings, emb_subset, seed)
    release_memory()  # tokenizing (a cold cache) leaves hundreds of MB free in the heap
    n_trials = args.num_samples
    for values in grid.values():
        n_trials *= len(values)
    spec = tuning.SweepSpec(
        study=study, param_space=grid, base_config={**recipe, **preset, "seed": seed},
        max_epochs=max_epochs, scheduler=args.scheduler, grace_period=args.grace_period,
        reduction_factor=args.reduction_factor, num_samples=args.num_samples,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        max_failures=args.max_failures, address=args.address, storage_path=args.storage_path,
        tracking_uri=tracking_uri, experiment_name=args.experiment_name,
        sweep_params={"preset": preset_name, "n_trials": n_trials, "max_epochs": max_epochs,
                      "scheduler": args.scheduler, "grid": grid, "seed": seed,
                      "data_path": data_path, "data_source": corpus.stats["source"],
                      **({"embeddings": embeddings, "embedding_train_subset": emb_subset,
                          "embedding_coverage": corpus.embedding_coverage}
                         if embeddings else {})})
    outcome = tuning.run_sweep(spec, corpus, resume=resume)
    print(f"\nsweep finished in {outcome.seconds:.0f} s: {outcome.trials}; "
          f"MLflow parent run {outcome.parent_run_id}; Ray results {outcome.path}")

    if report is None:
        from reports import build_report as report

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.report_dir or tmp)
        summary = report(tracking_uri, outcome.parent_run_id, out)
        tuning.log_report(tracking_uri, outcome.parent_run_id, out)
    print(summary)
    print(f"compare the trials: mlflow ui --backend-store-uri {tracking_uri}")
    if not {"finished", "stopped_early"} & set(outcome.trials):
        print("every trial failed; see the report's failed trials", file=sys.stderr)
        return 1
    return 0


def exit_now(code: int) -> NoReturn:
    """End a study's process without the interpreter's teardown.

    With Ray and MLflow loaded, a normal exit spends ~1-1.5 s after the work is done unloading
    modules and running exit hooks, and ``ray.shutdown()`` another 1-1.5 s stopping a local
    Ray instance's processes one by one. Nothing is left to close by then: MLflow wrote
    synchronously, temporary folders are gone, a local Ray instance is killed with this
    process by the kernel (``tuning.leave_ray``); output and logs are flushed first.
    """
    try:
        if "rnn_core.tuning" in sys.modules:
            from rnn_core import tuning

            tuning.leave_ray()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main_guard(main: Callable[[], int]) -> int:
    """Run ``main``; bad input becomes one sentence on stderr and exit code 2."""
    try:
        return main()
    except (ConfigError, DataError, FileNotFoundError) as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


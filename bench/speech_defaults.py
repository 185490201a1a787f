"""The spoken digits' data defaults, decided on validation: each arm trains study S5's recipe
(3 x 32 hand-written cells, Adam 0.003) with one choice changed from the default, over
seeds, and every epoch of every arm is scored on the same validation clips; synthetic test
and human figures are printed beside, never compared.

    python bench/speech_defaults.py --seeds 0 1 2 --json out.json

The arms: ``default`` (the build and ``--feature-norm auto``, utterance for words),
``global`` (``--feature-norm global``), ``recipe-v1`` (digits-v1's takes: no resampling
factor, noise 15-40 dB) and ``whispered`` (espeak-ng's whispered variants among the
speakers). Each arm's figure on a validation set is its best accuracy over the epochs (ties:
lower loss), as a sweep's ``best_val_acc``; each other arm is set against ``default`` on the
same clips (McNemar, paired). The validation sets are the default build's and, because a
recipe's own takes may favour it, digits-v1's takes of the same validation voices. The
alternative builds go into the data cache beside the default (``spoken_digits/``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rnn_core.data.cache import cache_dir  # noqa: E402
from rnn_core.data.features import FeatureSet  # noqa: E402
from rnn_core.data.speech_commands import WORD_SETS, load_speech_commands  # noqa: E402
from rnn_core.data.spoken_digits import BUILD, RECIPE, Recipe, build_digits  # noqa: E402
from rnn_core.stats import paired_accuracy, wilson  # noqa: E402
from rnn_core.tasks import AUDIO, train  # noqa: E402
from search_spaces.speech_commands import RECIPE as STUDY  # noqa: E402

# the recipe of digits-v1: no resampling factor, noise 15-40 dB (the v2 change: both)
RECIPE_V1 = Recipe(warp=None, snr_db=(15.0, 40.0))


ARMS = ("default", "global", "recipe-v1", "whispered")


def _built(name: str, **options) -> Path:
    """A build of the spoken digits in the cache (built first if absent)."""
    root = cache_dir() / "spoken_digits" / name
    if not (root / "build.json").exists():
        build_digits(root, **options)
    return root


def _load(arms: list[str]) -> tuple[dict[str, FeatureSet], dict[str, str]]:
    """Each arm's data and its feature normalisation; the validation sets under their names."""
    words = WORD_SETS["digits"]
    default = load_speech_commands(_built(BUILD), words)
    v1 = load_speech_commands(_built(f"{BUILD}-recipe-v1", recipe=RECIPE_V1), words)
    data = {"default": default, "global": default, "recipe-v1": v1,
            "val: default takes": default, "val: v1 takes": v1}
    if "whispered" in arms:
        data["whispered"] = load_speech_commands(_built(f"{BUILD}-whispered", whispered=True),
                                                 words)
        # the arms must be scored on the very same clips
        assert np.array_equal(default.splits["val"].frames, data["whispered"].splits["val"].frames)
    return data, {a: "global" if a == "global" else "utterance" for a in arms}


def _scores(data: FeatureSet, evals: dict[str, FeatureSet], norm: str, seed: int,
            epochs: int, cell: str, bidirectional: bool) -> dict:
    """Train on ``data`` and score every epoch on each validation set: per set, the best
    epoch and its per-clip correctness; the human clips at the epoch the first set picks."""
    splits = {name: data.splits[name] for name in ("train", "val", "test", "human")}
    splits.update({e: v.splits["val"] for e, v in evals.items()})
    prepared = FeatureSet(splits, data.classes, data.stats).standardized()
    config = {**STUDY, "task": "audio", "cell": cell, "bidirectional": bidirectional,
              "max_epochs": epochs, "seed": seed, "feature_norm": norm, "dataset": "digits"}
    history: list[dict] = []

    def report(metrics: dict, state: dict) -> None:
        trainer = AUDIO.load_trainer()(state["config"], prepared)
        model = trainer.build_model()
        model.load_state_dict(state["model"])
        row = {}
        for name in [*evals, "human"]:
            split = prepared.splits[name]
            split = split.centered() if norm == "utterance" else split
            loss, pred, true = trainer.predict(model, split)
            row[name] = (loss / len(true), pred == true)
        history.append(row)

    final = train(config, prepared, report)
    out = {"test_acc": final["test_acc"], "test_n": int(final["test_n"])}
    for k, e in enumerate(evals):
        best = max(range(len(history)), key=lambda i: (history[i][e][1].mean(),
                                                       -history[i][e][0]))
        out[e] = {"epoch": best + 1, "correct": history[best][e][1]}
        if k == 0:
            out["human"] = int(history[best]["human"][1].sum())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--uni", action="store_true", help="unidirectional (default: bi)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    arms = list(dict.fromkeys(["default", *args.arms]))
    data, norms = _load(arms)
    evals = {e: data[e] for e in ("val: default takes", "val: v1 takes")}
    record: dict = {"epochs": args.epochs, "cell": args.cell, "bidirectional": not args.uni,
                    "default_recipe": str(RECIPE), "runs": []}
    for seed in args.seeds:
        scores = {a: _scores(data[a], evals, norms[a], seed, args.epochs, args.cell,
                             not args.uni) for a in arms}
        for e in evals:
            base = scores["default"][e]["correct"]
            for a in arms:
                correct = scores[a][e]["correct"]
                iv = wilson(int(correct.sum()), len(correct))
                versus = "" if a == "default" else \
                    f"; default - {a}: {paired_accuracy(base, correct).text()}"
                print(f"seed {seed}, {e}: {a} {iv.text()} at epoch {scores[a][e]['epoch']}"
                      f"{versus}", flush=True)
                record["runs"].append({"seed": seed, "validation": e, "arm": a,
                                       "correct": int(correct.sum()), "n": len(correct),
                                       "epoch": scores[a][e]["epoch"],
                                       "vs_default": None if a == "default" else
                                       paired_accuracy(base, correct).difference})
        for a in arms:
            print(f"seed {seed}, beside (never compared): {a} synthetic test "
                  f"{scores[a]['test_acc']:.4f} (n = {scores[a]['test_n']}), human "
                  f"{scores[a]['human']}/20", flush=True)
            record["runs"].append({"seed": seed, "arm": a, "test_acc": scores[a]["test_acc"],
                                   "test_n": scores[a]["test_n"], "human": scores[a]["human"]})
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

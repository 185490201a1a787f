"""Add-one smoothed unigram and bigram baselines and the interpolated Kneser-Ney trigram of a
language-model corpus, on the same split, vocabulary and token prefixes a sweep trains and
scores on.

    python -m bench.lm_ngram --data-path book.txt --tokens char --train-tokens 200000 \\
        --val-tokens 50000 --test-tokens 50000
    python -m bench.lm_ngram --protocol bengio2003     # Brown as Bengio et al. encoded it

Counts come from the training stream (its first ``--train-tokens``); perplexity is scored on the
targets the language-model trainer scores (every token of a split's stream after the first, so
``<eos>``, the newline in character mode, included). Unigram: (c(w) + 1) / (N + V); bigram:
(c(v, w) + 1) / (c(v) + V), c(v) counting v as a context. The Kneser-Ney trigram is
``rnn_core.ngram``'s (D = 0.75), as a language-model sweep's parent run logs it (``kn3_*``),
its test perplexity with a bootstrap interval over sentences. Bits per token =
log2(perplexity).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

__all__ = ["ngram_perplexities"]


def ngram_perplexities(train: np.ndarray, stream: np.ndarray, vocab: int) -> dict[str, float]:
    """Perplexities of the add-one unigram and bigram of ``train`` on ``stream``'s targets."""
    train = np.asarray(train, dtype=np.int64)
    stream = np.asarray(stream, dtype=np.int64)
    uni = np.bincount(train, minlength=vocab).astype(np.float64)
    p_uni = (uni + 1) / (uni.sum() + vocab)
    # the pairs seen, sorted (a V x V table would not fit a word vocabulary)
    seen, counts = np.unique(train[:-1] * vocab + train[1:], return_counts=True)
    context = np.bincount(train[:-1], minlength=vocab).astype(np.float64)
    prev, nxt = stream[:-1], stream[1:]
    keys = prev * vocab + nxt
    at = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
    pair = np.where(seen[at] == keys, counts[at], 0)
    p_bi = (pair + 1) / (context[prev] + vocab)
    return {"unigram": float(np.exp(-np.log(p_uni[nxt]).mean())),
            "bigram": float(np.exp(-np.log(p_bi).mean()))}


def main(argv: list[str] | None = None) -> int:
    from rnn_core.data.lm_text import LMTextOptions, load_lm_corpus
    from rnn_core.tasks.language_model import kn_baseline

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-path", help="as the sweep's (default: Brown)")
    p.add_argument("--tokens", choices=("word", "char"), default="word")
    p.add_argument("--split", help="train,val,test fractions of one text file")
    p.add_argument("--min-count", type=int)
    p.add_argument("--protocol", choices=("default", "bengio2003"), default="default")
    p.add_argument("--train-tokens", type=int)
    p.add_argument("--val-tokens", type=int)
    p.add_argument("--test-tokens", type=int)
    args = p.parse_args(argv)
    opts = LMTextOptions(token_unit=args.tokens, min_count=args.min_count,
                         split_fractions=None if args.split is None
                         else [float(x) for x in args.split.split(",")],
                         protocol=args.protocol)
    corpus = load_lm_corpus(args.data_path, opts)
    train = corpus.splits["train"][:args.train_tokens]
    out = {"vocab_size": corpus.vocab_size, "train_tokens": len(train)}
    for split in ("val", "test"):
        stream = corpus.splits[split][:getattr(args, f"{split}_tokens")]
        for model, ppl in ngram_perplexities(train, stream, corpus.vocab_size).items():
            out[f"{split}_{model}_ppl"] = round(ppl, 3)
            out[f"{split}_{model}_bits"] = round(math.log2(ppl), 3)
    prefixes = {f"{k}_tokens": getattr(args, f"{k}_tokens") for k in ("train", "val", "test")}
    out.update(kn_baseline(corpus, prefixes))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

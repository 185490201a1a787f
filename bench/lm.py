"""Language-model training throughput as a share of the matmul roof (``bench/run.py --only lm``).

Useful FLOPs per target token = 3 x forward: the recurrent stack's input and recurrent
products, 2 * G*H * (in_l + H) per layer (G gate blocks: 4 LSTM, 3 GRU), plus the decoder over
the vocabulary, 2 * H * V, which at the default size is most of the work. Embedding lookups,
gate elementwise maths, the softmax and the optimizer are overhead. Measured on real windows
of the training split (the Brown corpus), steps exactly as the language-model trainer takes
them, interleaved with a 2048^3 float32 matmul at the same thread count.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from bench._common import matmul, recurrent_flops_per_token

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1, "mgu": 2}
CONFIGS = (("lstm", 2, 200, 0.0), ("lstm", 2, 200, 0.5), ("gru", 2, 200, 0.5))


def lm_flops_per_token(cell: str, layers: int, hidden: int, emb: int, vocab: int) -> int:
    """6 * (G*H * sum_l(in_l + H) + H * V): forward + backward of the useful products."""
    return recurrent_flops_per_token(GATES[cell], layers, hidden, emb) + 6 * hidden * vocab



def lm_efficiency(corpus, steps: int = 12, warmup: int = 2) -> dict:
    """Tokens/s and FLOP/s of LM training per config against the matmul roof."""
    from rnn_core.language_model import detach_state, segments, windows
    from rnn_core.tasks import task_of
    from rnn_core.training import OPTIMIZERS, resolve

    rows = []
    for cell, layers, hidden, dropout in CONFIGS:
        cfg = {"task": "language_model", "cell": cell, "num_layers": layers,
               "hidden_size": hidden, "dropout": dropout}
        tc, trainer = resolve(task_of(cfg), cfg, corpus)
        trainer.setup(torch.device("cpu"))
        torch.manual_seed(0)
        model = trainer.build_model()
        model.train()
        opt = OPTIMIZERS[tc.optimizer](model.parameters(), lr=tc.lr)
        inputs, targets = segments(trainer.streams["train"], tc.batch_size)
        wins = windows(inputs, targets, int(trainer.config["bptt"]))
        fpt = lm_flops_per_token(cell, layers, hidden, hidden, corpus.vocab_size)
        rates, roofs, state = [], [], None
        roof_of = matmul(2048, 2048, 2048, min_s=0.0)
        for i in range(warmup + steps):
            x, y = next(wins)
            t0 = time.perf_counter()
            out, state = model(x, detach_state(state))
            nll, n = model.nll(out, y)
            opt.zero_grad(set_to_none=True)
            (nll / n).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            seconds = time.perf_counter() - t0
            roof = roof_of()
            if i >= warmup:
                rates.append(n / seconds)
                roofs.append(roof)
        tok_s, roof = statistics.median(rates), statistics.median(roofs)
        rows.append({"config": f"{cell} L{layers} H{hidden} drop{dropout}",
                     "tokens_per_s": tok_s, "flops_per_token": fpt,
                     "gflops": tok_s * fpt / 1e9, "matmul_2048_gflops": roof / 1e9,
                     "efficiency": tok_s * fpt / roof,
                     "decoder_share_of_flops": 6 * hidden * corpus.vocab_size / fpt})
        print(f"  lm {rows[-1]['config']}: {tok_s:,.0f} tokens/s, {rows[-1]['gflops']:.1f} GF/s"
              f" vs matmul {roof / 1e9:.1f} GF/s: {rows[-1]['efficiency']:.2f}", flush=True)
    return {"rows": rows, "vocab_size": corpus.vocab_size, "threads": torch.get_num_threads(),
            "batch": int(np.asarray(tc.batch_size))}

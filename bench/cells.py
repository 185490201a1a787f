"""Training throughput of every registry cell: scratch vs native layers vs the batch-1 way.

    python bench/cells.py                           # 2 warmup + 15 timed steps, 60 batch-1 seqs
    python bench/cells.py --quick --json out.json   # 1 + 7 steps, 28 seqs: ~1-2 min on 2 cores

Model: Embedding(20000, 64) -> RecurrentStack -> Linear(D*H, 2), random token ids, every
sequence 256 long; one training step = forward + backward + Adam step. Throughput is training
tokens/s (batch * length / median step time). All points of a configuration are measured
interleaved (one step of each in turn, repeatedly) so load from other processes hits them
alike. The batch-1 way is the reference studies': one sequence at a time, a Python loop over
time steps calling ``nn.LSTMCell`` / ``nn.GRUCell`` / ``nn.RNNCell`` (``MGUCell`` for mgu),
timed per sequence. GF/s: matrix-product FLOPs per second of the faster batched backend,
a check of how close batched training runs to the machine's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from bench._common import recurrent_flops_per_token, timed  # noqa: E402
from rnn_core.cells import CELLS, MGUCell  # noqa: E402
from rnn_core.models import ModelConfig, SequenceClassifier  # noqa: E402

VOCAB, EMBED, LENGTH, BATCH = 20_000, 64, 256, 64
CONFIGS = ({"layers": 1, "hidden": 100}, {"layers": 2, "hidden": 200})
TARGET_SCRATCH_OVER_NATIVE = 0.8  # for the GATED cells
GATED = ("lstm", "gru")
TARGET_BATCHED_OVER_BATCH1 = 100.0  # for every batched cell and backend
LIBRARY_CELLS: dict[str, Callable[[int, int], nn.Module]] = {
    "rnn_tanh": lambda i, h: nn.RNNCell(i, h, nonlinearity="tanh"),
    "rnn_relu": lambda i, h: nn.RNNCell(i, h, nonlinearity="relu"),
    "lstm": nn.LSTMCell,
    "gru": nn.GRUCell,
    "mgu": MGUCell,
}


class Batch1Model(nn.Module):
    """The reference studies' model: embedding, a per-step loop over stacked cells, linear."""

    def __init__(self, cell: str, layers: int, hidden: int) -> None:
        super().__init__()
        self.lstm, self.hidden = cell == "lstm", hidden
        self.embedding = nn.Embedding(VOCAB, EMBED)
        build = LIBRARY_CELLS[cell]
        sizes = [EMBED] + [hidden] * (layers - 1)
        self.cells = nn.ModuleList(build(size, hidden) for size in sizes)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (1, T) -> logits (1, 2)."""
        x = self.embedding(tokens)  # (1, T, E)
        states = [torch.zeros(1, self.hidden) for _ in self.cells]
        cs = [torch.zeros(1, self.hidden) for _ in self.cells]
        for t in range(x.shape[1]):
            inp = x[:, t]
            for k, cell in enumerate(self.cells):
                if self.lstm:
                    states[k], cs[k] = cell(inp, (states[k], cs[k]))
                else:
                    states[k] = cell(inp, states[k])
                inp = states[k]
        return self.head(inp)


def _trainer(model: nn.Module, forward: Callable[[], Tensor], labels: Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(forward(), labels).backward()
        opt.step()

    return step



def train_flops_per_token(cell: str, layers: int, hidden: int) -> int:
    """Matrix-product FLOPs per training token (forward 2x, backward 4x the multiply-adds)."""
    return recurrent_flops_per_token(CELLS[cell].gates, layers, hidden, EMBED)


def measure(layers: int, hidden: int, warmup: int, iters: int, batch1_seqs: int) -> list[dict]:
    """tokens/s of every cell: native and scratch batched, and the batch-1 way (interleaved)."""
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, VOCAB, (BATCH, LENGTH), generator=gen)
    lengths = torch.full((BATCH,), LENGTH)
    labels = torch.randint(0, 2, (BATCH,), generator=gen)
    steps: dict[tuple[str, str], Callable[[], None]] = {}
    for cell, spec in CELLS.items():
        for backend in ("native", "scratch") if spec.native else ("scratch",):
            cfg = ModelConfig(VOCAB, EMBED, hidden, layers, cell, dropout=0.0, backend=backend)
            model = SequenceClassifier(cfg)
            steps[cell, backend] = _trainer(model, lambda m=model: m(tokens, lengths), labels)
        b1 = Batch1Model(cell, layers, hidden)
        seq = tokens[:1]
        steps[cell, "batch1"] = _trainer(b1, lambda m=b1, s=seq: m(s), labels[:1])
    per_round = max(1, batch1_seqs // iters)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
    for rnd in range(warmup + iters):
        for key, step in steps.items():
            reps = per_round if key[1] == "batch1" else 1
            elapsed = [timed(step) for _ in range(reps)]
            if rnd >= warmup:
                times[key].extend(elapsed)
    rows = []
    for cell in CELLS:
        row: dict = {"layers": layers, "hidden": hidden, "cell": cell}
        row["train_flops_per_token"] = train_flops_per_token(cell, layers, hidden)
        for backend, tokens_per_step in (("native", BATCH), ("scratch", BATCH), ("batch1", 1)):
            ts = times.get((cell, backend))
            tok_s = tokens_per_step * LENGTH / statistics.median(ts) if ts else None
            row[f"{backend}_tok_s"] = tok_s
        rows.append(row)
    return rows


def add_ratios(rows: list[dict]) -> dict:
    """Add ratios to each row; return the targets with met / unmet."""
    for row in rows:
        nat, scr, b1 = row["native_tok_s"], row["scratch_tok_s"], row["batch1_tok_s"]
        row["scratch_over_native"] = scr / nat if nat else None
        row["native_over_batch1"] = nat / b1 if nat else None
        row["scratch_over_batch1"] = scr / b1
        row["best_batched_gflops"] = (
            max(v for v in (nat, scr) if v) * row["train_flops_per_token"] / 1e9
        )

    def name(r: dict, key: str) -> str:
        return f"L{r['layers']} H{r['hidden']} {r['cell']} {key.split('_')[0]}"

    gated = {name(r, "scratch"): r["scratch_over_native"] for r in rows if r["cell"] in GATED}
    batched = {
        name(r, k): r[k]
        for r in rows
        for k in ("native_over_batch1", "scratch_over_batch1")
        if r[k] is not None
    }
    targets = {}
    for key, target, ratios in (
        ("scratch_over_native_lstm_gru", TARGET_SCRATCH_OVER_NATIVE, gated),
        ("batched_over_batch1_all", TARGET_BATCHED_OVER_BATCH1, batched),
    ):
        failing = sorted(k for k, v in ratios.items() if v < target)
        targets[key] = {
            "target": target,
            "worst": min(ratios.values()),
            "met": not failing,
            "failing": failing,
        }
    return targets


def format_table(rows: list[dict], targets: dict) -> str:
    def num(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    head = (
        f"{'L':>1} {'H':>3} {'cell':<8} {'native tok/s':>12} {'scratch tok/s':>13} "
        f"{'batch-1 tok/s':>13} {'scr/nat':>7} {'nat/b1':>7} {'scr/b1':>7} {'GF/s':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['layers']:>1} {r['hidden']:>3} {r['cell']:<8} "
            f"{num(r['native_tok_s'], ',.0f'):>12} {num(r['scratch_tok_s'], ',.0f'):>13} "
            f"{num(r['batch1_tok_s'], ',.0f'):>13} {num(r['scratch_over_native'], '.2f'):>7} "
            f"{num(r['native_over_batch1'], '.0f'):>7} {num(r['scratch_over_batch1'], '.0f'):>7} "
            f"{r['best_batched_gflops']:>5.0f}"
        )
    for name, t in targets.items():
        verdict = "met" if t["met"] else "NOT met"
        lines.append(f"{name}: worst {t['worst']:.2f} vs target {t['target']} -> {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (~1-2 min)")
    parser.add_argument("--smoke-test", action="store_true", help="one step each, seconds")
    parser.add_argument("--json", type=Path, help="write results and targets here")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warmup, iters, batch1_seqs = (
        (0, 1, 1) if args.smoke_test else (1, 7, 28) if args.quick else (2, 15, 60)
    )
    rows: list[dict] = []
    for c in CONFIGS:
        rows += measure(c["layers"], c["hidden"], warmup, iters, batch1_seqs)
    targets = add_ratios(rows)
    print(format_table(rows, targets))
    if args.json:
        settings = {
            "vocab": VOCAB, "embedding": EMBED, "length": LENGTH, "batch": BATCH,
            "threads": args.threads, "warmup": warmup, "iters": iters,
            "batch1_sequences": batch1_seqs, "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
        }  # fmt: skip
        result = {"settings": settings, "results": rows, "targets": targets}
        result["all_met"] = all(t["met"] for t in targets.values())
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

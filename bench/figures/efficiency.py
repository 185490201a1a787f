"""Training efficiency: useful training FLOP/s against a dense matmul's at the same thread
count, for the classifier (the study's grid, bucketed batches as trained, against padded,
packed and scratch variants of the median config) and for the language model
(``bench/lm.py``)."""

from __future__ import annotations

import statistics

import numpy as np
import torch
from torch import nn

from bench._common import matmul, timed
from bench.figures.common import BATCH, figure, train_flops_per_token
from rnn_core.data.batching import bucket_batches, padded_batch
from rnn_core.tasks import task_of
from rnn_core.training import OPTIMIZERS, resolve
from search_spaces import compound_scaling as space

__all__ = ["GRID", "MEDIAN", "QUICK_CONFIGS", "PackedLSTM", "lm_figure", "training_efficiency"]

GRID = [(lay, hid, emb) for lay in (1, 2, 3) for hid in (100, 200, 300) for emb in (32, 64, 128)]
MEDIAN = (2, 200, 64)
QUICK_CONFIGS = [(1, 100, 32), MEDIAN, (3, 300, 128)]


class PackedLSTM(nn.Module):
    """Same model as SequenceClassifier (native LSTM) but over pack_padded_sequence."""

    def __init__(self, vocab: int, layers: int, hidden: int, emb: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.drop = nn.Dropout(0.5)
        self.rnn = nn.LSTM(emb, hidden, layers, batch_first=True,
                           dropout=0.5 if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens, lengths):
        x = self.drop(self.embedding(tokens))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (h, _) = self.rnn(packed)
        return self.head(self.drop(h[-1]))


def _trainer(model: nn.Module):
    """One step exactly as rnn_core.training: forward, CE, backward, clip 5, RMSprop."""
    opt = OPTIMIZERS["rmsprop"](model.parameters(), lr=1e-3)
    model.train()

    def step(batch) -> None:
        tok, lengths, labels = batch
        loss = nn.functional.cross_entropy(model(tok, lengths), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step


def _classifier(corpus, cfg: dict) -> nn.Module:
    """The classifier a trial of ``cfg`` trains (its defaults filled as in a sweep)."""
    _, trainer = resolve(task_of(cfg), cfg, corpus)
    return trainer.build_model()


def training_efficiency(corpus, configs, warmup: int, iters: int) -> tuple[dict, list[dict]]:
    train = corpus.splits["train"]
    lengths = np.asarray(train.lengths)
    rng = np.random.default_rng(0)
    n_batches = warmup + iters
    bucketed = [padded_batch(train, idx) for idx in
                bucket_batches(lengths, BATCH, shuffle=True, rng=rng)[:n_batches]]
    perm = rng.permutation(len(lengths))
    random_b = [padded_batch(train, perm[i * BATCH:(i + 1) * BATCH]) for i in range(n_batches)]
    big = matmul(2048, 2048, 2048, min_s=0.0)
    rows = []
    for lay, hid, emb in configs:
        cfg = {**space.RECIPE, "num_layers": lay, "hidden_size": hid, "embedding_dim": emb}
        torch.manual_seed(0)
        variants = {"bucketed": (_trainer(_classifier(corpus, cfg)), bucketed)}
        if (lay, hid, emb) == MEDIAN:
            variants["padded"] = (_trainer(_classifier(corpus, cfg)), random_b)
            variants["packed"] = (_trainer(PackedLSTM(corpus.vocab_size, lay, hid, emb)),
                                  random_b)
            variants["scratch"] = (_trainer(_classifier(corpus, {**cfg, "backend": "scratch"})),
                                   bucketed)
        gate = matmul(BATCH, hid, 4 * hid)  # the recurrent product of one time step
        proj = matmul(BATCH * 100, emb, 4 * hid)  # the input projection of a batch
        rates: dict[str, list[float]] = {k: [] for k in variants}
        pad_share: dict[str, list[float]] = {k: [] for k in variants}
        peaks: dict[str, list[float]] = {"2048": [], "gate": [], "proj": []}
        fpt = train_flops_per_token(lay, hid, emb)
        for r in range(n_batches):
            for key, bench in (("2048", big), ("gate", gate), ("proj", proj)):
                if r >= warmup:
                    peaks[key].append(bench())
            for key, (step, batches) in variants.items():
                batch = batches[r]
                t = timed(lambda s=step, b=batch: s(b))
                if r >= warmup:
                    real = int(batch[1].sum())
                    rates[key].append(real * fpt / t)
                    pad_share[key].append(real / batch[0].numel())
        peak = {k: statistics.median(v) for k, v in peaks.items()}
        row = {"config": f"L{lay} H{hid} E{emb}", "layers": lay, "hidden": hid, "emb": emb,
               "train_flops_per_token": fpt, "matmul_2048_gflops": peak["2048"] / 1e9,
               "matmul_gate_gflops": peak["gate"] / 1e9, "matmul_proj_gflops": peak["proj"] / 1e9}
        for key, v in rates.items():
            ach = statistics.median(v)
            row[f"{key}_gflops"] = ach / 1e9
            row[f"{key}_eff_2048"] = ach / peak["2048"]
            row[f"{key}_eff_gate"] = ach / peak["gate"]
            row[f"{key}_real_over_processed"] = statistics.mean(pad_share[key])
            row[f"{key}_real_tok_s"] = ach / fpt
        rows.append(row)
        print(f"  efficiency {row['config']}: " + ", ".join(
            f"{k} {row[f'{k}_gflops']:.1f} GF/s ({row[f'{k}_eff_2048']:.2f})" for k in rates)
            + f"; matmul 2048 {row['matmul_2048_gflops']:.1f}, gate {row['matmul_gate_gflops']:.1f}"
            f", proj {row['matmul_proj_gflops']:.1f} GF/s", flush=True)
    med = next(r for r in rows if (r["layers"], r["hidden"], r["emb"]) == MEDIAN)
    value = med["bucketed_eff_2048"]
    notes = (f"median config L2 H200 E64, bucketed batches as trained, native LSTM, "
             f"{torch.get_num_threads()} thread(s): {med['bucketed_gflops']:.1f} GF/s useful "
             f"(real tokens x {med['train_flops_per_token']:,} FLOPs = 6*4H*sum(in+H)) vs dense "
             f"matmul 2048^3 {med['matmul_2048_gflops']:.1f} GF/s; vs the recurrent gate product "
             f"(64x{MEDIAN[1]}@{MEDIAN[1]}x{4 * MEDIAN[1]}) {med['matmul_gate_gflops']:.1f} GF/s: "
             f"{med['bucketed_eff_gate']:.2f}. Same config: padded random batches "
             f"{med['padded_eff_2048']:.2f}, packed (pack_padded_sequence, random batches) "
             f"{med['packed_eff_2048']:.2f}, scratch backend {med['scratch_eff_2048']:.2f}. "
             "Per config: " + "; ".join(f"{r['config']} {r['bucketed_eff_2048']:.2f}"
                                        for r in rows))
    fig = figure("training_efficiency", round(value, 3), "fraction of matmul FLOP/s", ">= 0.6",
                 bool(value >= 0.6), notes, per_config=rows)
    return fig, rows


def lm_figure(steps: int) -> dict:
    """``bench/lm.py`` on the Brown corpus: the default LM config against the matmul roof."""
    from bench.lm import lm_efficiency
    from rnn_core.data.lm_text import load_lm_corpus

    res = lm_efficiency(load_lm_corpus(None), steps=steps)
    first = res["rows"][0]
    notes = (f"{first['config']} (the study's default size, tied, batch {res['batch']}, "
             f"{res['threads']} thread(s)), vocabulary {res['vocab_size']:,}: "
             f"{first['tokens_per_s']:,.0f} tokens/s x {first['flops_per_token']:,} FLOPs "
             f"(decoder {first['decoder_share_of_flops']:.0%}) = {first['gflops']:.1f} GF/s vs "
             f"matmul 2048^3 {first['matmul_2048_gflops']:.1f} GF/s. Per config: "
             + "; ".join(f"{r['config']} {r['efficiency']:.2f}" for r in res["rows"]))
    return figure("lm_training_efficiency", round(first["efficiency"], 3),
                  "fraction of matmul FLOP/s", ">= 0.5", bool(first["efficiency"] >= 0.5),
                  notes, per_config=res["rows"])

"""One training path for every study: ``config dict -> per-epoch metrics``.

The trial config is a flat dict of primitives (what Ray Tune and MLflow see); the model is built
from a typed ``ModelConfig``. Each epoch reports that epoch's metrics (not running means) so ASHA
compares like with like. The best-on-validation state is kept in memory and the test split is
touched once, at the end, by that best state.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from rnn_core.data.batching import iterate_batches
from rnn_core.data.text import EncodedCorpus, Split
from rnn_core.errors import ConfigError
from rnn_core.memory import release_memory
from rnn_core.models import ModelConfig, SequenceClassifier, count_parameters

__all__ = ["DEFAULTS", "OPTIMIZERS", "TrainingDiverged", "TrialOutOfMemory", "build_model",
           "evaluate", "resolve_config", "train"]

log = logging.getLogger(__name__)

# Study S3's recipe (RMSprop was its best optimizer); every key can be overridden by the config.
DEFAULTS: dict[str, Any] = {
    "cell": "lstm", "backend": "native", "num_layers": 1, "hidden_size": 100,
    "embedding_dim": 32, "bidirectional": False, "dropout": 0.5,
    "optimizer": "rmsprop", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 64,
    "grad_clip": 5.0, "max_epochs": 5, "seed": 0, "threads": 1, "eval_batch_size": 256,
    "train_subset": None, "val_subset": None, "test_subset": None, "device": "cpu",
    # "learned", or the name of a matrix in ``data.embeddings`` (built once on the driver:
    # "glove50", "word2vec300" or a vectors file path); pretrained sets embedding_dim
    "embedding": "learned", "freeze_embedding": False,
    # optional "cell/backend" (e.g. "mgu/scratch"): one grid axis holds only valid pairs
    "variant": None,
}

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class TrialOutOfMemory(MemoryError):
    """The model or a batch did not fit in memory (CPU RAM or GPU memory)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_config(config: dict, data: EncodedCorpus) -> tuple[dict, np.ndarray | None, dict]:
    """Fill ``DEFAULTS`` and resolve the derived keys of a trial config.

    ``variant`` "cell/backend" sets ``cell`` and ``backend``; a pretrained ``embedding`` takes
    its matrix from ``data.embeddings`` and sets ``embedding_dim`` to the vectors' size.

    Returns:
        (config, initial embedding weights or None, coverage metrics of those weights)
    """
    cfg = {**DEFAULTS, **config}
    if cfg.get("variant"):
        cell, sep, backend = str(cfg["variant"]).partition("/")
        if not sep or not cell or not backend:
            raise ConfigError(f"variant {cfg['variant']!r} is not 'cell/backend', e.g. "
                              "'lstm/native'")
        cfg["cell"], cfg["backend"] = cell, backend
    emb = str(cfg["embedding"])
    if emb == "learned":
        cfg["freeze_embedding"] = False
        return cfg, None, {}
    if emb not in data.embeddings:
        raise ConfigError(f"embedding {emb!r} was not built on the driver; the data holds "
                          f"{sorted(data.embeddings) or 'no embeddings'}")
    weights = data.embeddings[emb]
    if weights.shape[0] != data.vocab_size:
        raise ConfigError(f"embedding {emb!r} has {weights.shape[0]} rows for a vocabulary of "
                          f"{data.vocab_size}")
    cfg["embedding_dim"] = int(weights.shape[1])
    cfg["freeze_embedding"] = bool(cfg["freeze_embedding"])
    coverage = {k: float(v) for k, v in data.embedding_coverage.get(emb, {}).items()
                if k in ("vocab_coverage", "token_coverage") and v is not None}
    return cfg, weights, coverage


def build_model(cfg: dict, vocab_size: int, pad_index: int = 0,
                embedding_weights: np.ndarray | None = None) -> SequenceClassifier:
    """The classifier of a (resolved) trial config; ``embedding_weights`` initialise it."""
    weights = None if embedding_weights is None else torch.as_tensor(
        np.asarray(embedding_weights, dtype=np.float32))
    return SequenceClassifier(ModelConfig(
        vocab_size=vocab_size, embedding_dim=int(cfg["embedding_dim"]),
        hidden_size=int(cfg["hidden_size"]), num_layers=int(cfg["num_layers"]),
        cell=cfg["cell"], bidirectional=bool(cfg["bidirectional"]),
        dropout=float(cfg["dropout"]), pad_index=pad_index, backend=cfg["backend"],
        freeze_embedding=bool(cfg.get("freeze_embedding", False))), weights)


@torch.inference_mode()
def evaluate(model: nn.Module, split: Split, batch_size: int, device: torch.device
             ) -> tuple[float, float]:
    """(mean loss, accuracy) over a split, in length-sorted batches."""
    model.eval()
    loss_sum, correct, n = 0.0, 0, 0
    for tokens, lengths, labels in iterate_batches(split, batch_size, shuffle=False):
        logits = model(tokens.to(device), lengths)
        labels = labels.to(device)
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(1) == labels).sum())
        n += len(labels)
    return loss_sum / max(n, 1), correct / max(n, 1)


def train(config: dict, data: EncodedCorpus,
          report: Callable[[dict, dict], None] | None = None,
          state: dict | None = None) -> dict:
    """Train one configuration (see ``_train``); running out of memory is a ``TrialOutOfMemory``."""
    try:
        return _train(config, data, report, state)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise TrialOutOfMemory(f"out of memory: {str(exc).splitlines()[0][:300]}") from exc
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
            raise TrialOutOfMemory(f"out of memory: {str(exc).splitlines()[0][:300]}") from exc
        raise


def _train(config: dict, data: EncodedCorpus,
           report: Callable[[dict, dict], None] | None = None,
           state: dict | None = None) -> dict:
    """Train one configuration and return its final metrics.

    Args:
        config: flat trial config; missing keys take ``DEFAULTS``.
        data: the encoded corpus (shared, read-only).
        report: called after every epoch with (metrics, state); ``state`` is everything needed
            to resume (model, optimizer, RNG states, epoch) plus the best-on-validation
            ``best_state``, ``config`` and ``model_config``; ``state["improved"]`` says whether
            this epoch set a new best.
        state: a ``state`` from an earlier report: training continues after its epoch.

    Returns:
        The last epoch's metrics, with ``test_acc``/``test_loss`` of the best-on-validation state.
    """
    cfg, weights, coverage = resolve_config(config, data)
    release_memory(collect=False)  # what an earlier trial in this reused worker left free
    torch.set_num_threads(max(1, int(cfg["threads"])))
    seed_everything(int(cfg["seed"]))
    device = torch.device(cfg["device"])
    sub_seed = int(cfg["seed"])
    train_split = data.splits["train"].subset(cfg["train_subset"], sub_seed)
    val_split = data.splits["val"].subset(cfg["val_subset"], sub_seed)
    test_split = data.splits["test"].subset(cfg["test_subset"], sub_seed)

    model = build_model(cfg, data.vocab_size, data.pad_index, weights).to(device)
    n_params = count_parameters(model)
    n_trainable = count_parameters(model, trainable_only=True)
    opt = OPTIMIZERS[cfg["optimizer"]]([p for p in model.parameters() if p.requires_grad],
                                       lr=float(cfg["lr"]),
                                       weight_decay=float(cfg["weight_decay"]))
    rng = np.random.default_rng(int(cfg["seed"]))
    best_val, best_state, metrics, start = -1.0, None, {}, 1
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        best_val, best_state, start = state["best_val"], state["best_state"], state["epoch"] + 1
        metrics = state.get("metrics", {})
        log.info("resuming after epoch %d (best val_acc %.4f)", state["epoch"], best_val)
    for epoch in range(start, int(cfg["max_epochs"]) + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum, correct, seen, tokens = 0.0, 0, 0, 0
        for tok, lengths, labels in iterate_batches(train_split, int(cfg["batch_size"]),
                                                    shuffle=True, rng=rng):
            tok, labels = tok.to(device), labels.to(device)
            logits = model(tok, lengths)
            loss = nn.functional.cross_entropy(logits, labels)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"training loss became {loss.item()} at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg["grad_clip"]:
                nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
            opt.step()
            loss_sum += loss.item() * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            tokens += int(lengths.sum())
        train_seconds = time.perf_counter() - t0
        val_loss, val_acc = evaluate(model, val_split, int(cfg["eval_batch_size"]), device)
        improved = val_acc > best_val
        if improved:
            best_val, best_state = val_acc, copy.deepcopy(model.state_dict())
        metrics = {
            "epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
            "val_loss": val_loss, "val_acc": val_acc, "best_val_acc": best_val,
            "n_params": n_params, "n_trainable_params": n_trainable, **coverage,
            "tokens_per_s": tokens / train_seconds,
            "epoch_seconds": time.perf_counter() - t0,
        }
        if epoch == int(cfg["max_epochs"]):
            t_test = time.perf_counter()
            best_model = copy.deepcopy(model)  # no RNG draws: the training state stays as is
            best_model.load_state_dict(best_state)
            test_loss, test_acc = evaluate(best_model, test_split, int(cfg["eval_batch_size"]),
                                           device)
            metrics.update(test_loss=test_loss, test_acc=test_acc,
                           test_seconds=time.perf_counter() - t_test)
        if not all(math.isfinite(v) for v in metrics.values()):
            raise TrainingDiverged(f"non-finite metrics at epoch {epoch}: {metrics}")
        if report is not None:
            report(metrics, {
                "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "best_val": best_val, "best_state": best_state, "improved": improved,
                "metrics": metrics, "config": cfg, "model_config": model.cfg.to_dict()})
        # glibc keeps freed batch buffers resident otherwise (rnn_core.memory)
        release_memory(collect=False)
        log.info("epoch %d %s", epoch, {k: round(v, 4) for k, v in metrics.items()})
    return metrics

"""float32 against bfloat16 autocast, side by side in one run: the matmul roofs, which kernels
this CPU dispatches to, and classifier training tokens/s per config against the roof of the
precision it runs in.

    python bench/precision.py [--quick] [--json out.json]
    python bench/precision.py --device cuda --quick     # the same on the GPU (bench/gpu_check.sh)

bfloat16 is only fast where the CPU has it natively (AVX-512 BF16 or AMX,
``rnn_core.precision``); elsewhere oneDNN emulates it (about 100-300x slower than float32) and
has no bf16 LSTM kernel at all, so the training rows are measured only where it is native and
the reason is printed otherwise. On CUDA, native means compute capability 8.0 (Ampere) or newer;
training there runs cuDNN's deterministic kernels, as a trial does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import torch  # noqa: E402

from bench._common import matmul, recurrent_flops_per_token, timed  # noqa: E402
from rnn_core.amp import Amp  # noqa: E402
from rnn_core.models import ModelConfig, SequenceClassifier  # noqa: E402
from rnn_core.precision import cpu_bf16_flags  # noqa: E402
from rnn_core.training import make_deterministic  # noqa: E402

CONFIGS = [(1, 100, 32), (2, 200, 64), (3, 300, 128)]  # layers, hidden, embedding
BATCH, LENGTH, VOCAB = 64, 256, 30_000
CPU = torch.device("cpu")


def synced(fn, device: torch.device):
    """``fn`` followed by a wait for the GPU's queued kernels, so a timer around it counts them
    (CUDA calls return before their kernels finish)."""
    if device.type != "cuda":
        return fn
    return lambda: (fn(), torch.cuda.synchronize(device))


def matmul_roof(dtype: torch.dtype, n: int = 1024, device: torch.device = CPU) -> float:
    """FLOP/s of an (n,n)@(n,n) product in ``dtype`` on ``device`` (median of 3)."""
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    product = synced(lambda: a @ b, device)
    product()
    return statistics.median(2 * n ** 3 / timed(product) for _ in range(3))


def train_rate(layers: int, hidden: int, emb: int, prec: str, steps: int,
               device: torch.device = CPU) -> float:
    """Tokens/s of native-LSTM classifier training steps (RMSprop, clip 5) in ``prec``."""
    torch.manual_seed(0)
    model = SequenceClassifier(ModelConfig(vocab_size=VOCAB, embedding_dim=emb,
                                           hidden_size=hidden, num_layers=layers)).to(device)
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    amp = Amp(device, prec)
    tokens = torch.randint(1, VOCAB, (BATCH, LENGTH), device=device)
    lengths = torch.full((BATCH,), LENGTH)  # on the CPU, as training passes them
    labels = torch.randint(0, 2, (BATCH,), device=device)
    params = list(model.parameters())

    def step() -> None:
        with amp.autocast():
            logits = model(tokens, lengths).float()
        amp.step(torch.nn.functional.cross_entropy(logits, labels), opt, params, 5.0)

    times = [timed(synced(step, device)) for _ in range(steps + 1)][1:]
    return BATCH * LENGTH / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the median config only, fewer steps")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where the products and the training steps run (default cpu)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("precision.py: --device cuda: torch here sees no CUDA device", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    make_deterministic(device)
    if device.type == "cuda":
        # the GPU's own products are large: at 1024^3 a launch would weigh on the roof
        flags = (("bf16",) if torch.cuda.is_bf16_supported(including_emulation=False) else ())
        roof32 = matmul_roof(torch.float32, 8192, device)
        roof16 = matmul_roof(torch.bfloat16, 8192, device)
        print(f"GPU: {torch.cuda.get_device_name(device)}; native bfloat16: "
              f"{'yes' if flags else 'no'}")
        where = "GPU"
    else:
        flags = cpu_bf16_flags()
        roof32 = matmul(2048, 2048, 2048)()
        roof16 = matmul_roof(torch.bfloat16)
        print(f"CPU: torch dispatches {torch.backends.cpu.get_cpu_capability()}; native "
              f"bfloat16 flags: {', '.join(flags) or 'none'}")
        where = "1 thread"
    print(f"matmul, {where}: float32 {roof32 / 1e9:.1f} GF/s, bfloat16 {roof16 / 1e9:.1f} GF/s "
          f"({roof16 / roof32:.2f}x)")
    result = {"device": str(device), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "bf16_flags": flags, "matmul_fp32_gflops": roof32 / 1e9,
              "matmul_bf16_gflops": roof16 / 1e9, "rows": []}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    if not flags:
        print(f"bfloat16 is emulated here: no training rows (--precision auto trains in float32 "
              f"on this {device.type.upper()}, and --precision bf16 is refused)")
    else:
        configs = [CONFIGS[1]] if args.quick else CONFIGS
        for layers, hidden, emb in configs:
            fpt = recurrent_flops_per_token(4, layers, hidden, emb)
            row = {"config": f"L{layers} H{hidden} E{emb}"}
            for prec, roof in (("fp32", roof32), ("bf16", roof16)):
                rate = train_rate(layers, hidden, emb, prec, 3 if args.quick else 6, device)
                row[prec] = {"tokens_per_s": rate, "of_roof": rate * fpt / roof}
            row["speedup"] = row["bf16"]["tokens_per_s"] / row["fp32"]["tokens_per_s"]
            result["rows"].append(row)
            print(f"  {row['config']}: float32 {row['fp32']['tokens_per_s']:,.0f} tokens/s "
                  f"({row['fp32']['of_roof']:.2f} of its roof), bfloat16 "
                  f"{row['bf16']['tokens_per_s']:,.0f} ({row['bf16']['of_roof']:.2f} of its "
                  f"roof): {row['speedup']:.2f}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# The GPU figures in one call on a machine with an NVIDIA GPU, from the repository's root:
#
#   bench/gpu_check.sh [DIR]      # figures to DIR (default: $OUT, else ./gpu-check)
#
# Installs what is missing first (`make install`, then a CUDA build of torch where the venv
# holds a CPU one: docs/gpus.md), then, within a budget of GPU_CHECK_BUDGET_S seconds (420):
# the CUDA tests (pytest -m gpu), the smoke sweep at --gpus-per-trial 0.25 in float32, the
# native-LSTM classifier's training speed in float32 and bfloat16 autocast on the GPU
# (bench/precision.py --device cuda), and the quick preset's wall at --gpus-per-trial 0.25 in
# --precision auto (bfloat16 where the GPU runs it natively). While the sweeps run, nvidia-smi
# is read every second: how many trial processes shared the GPU at once and the memory each
# held. Writes gpu_check.json and gpu_check.txt (the figures), the sweeps' and tests' logs
# and the GPU samples to DIR. A machine without a usable NVIDIA GPU gets one line and exit 0.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    echo "gpu_check: skipped: no NVIDIA GPU here (nvidia-smi is missing or lists none)"
    exit 0
fi

out=$(mkdir -p "${1:-${OUT:-gpu-check}}" && cd "${1:-${OUT:-gpu-check}}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
py=.venv/bin/python
budget=${GPU_CHECK_BUDGET_S:-420}
say() { echo "gpu_check: $*" | tee -a "$out/gpu_check.txt"; }
: >"$out/gpu_check.txt"

t0=$(date +%s)
if [ ! -f .venv/.installed ] && ! make install >"$work/install.log" 2>&1; then
    tail -5 "$work/install.log"; say "failed: make install (log above)"; exit 1
fi
if ! "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    # the venv's torch is a CPU build: the CUDA one of the same release (docs/gpus.md)
    index=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cu128}
    "$py" -m pip uninstall -q -y torch >"$work/install.log" 2>&1
    if ! "$py" -m pip install -q torch==2.13.0 --index-url "$index" >>"$work/install.log" 2>&1 \
        || ! "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
        tail -5 "$work/install.log"; say "failed: torch in .venv sees no CUDA device"; exit 1
    fi
fi
say "install: $(($(date +%s) - t0)) s"
start=$(date +%s)

# The seconds a step may take: its own cap, or what is left of the budget
allow() {
    local left=$((budget - ($(date +%s) - start)))
    [ "$left" -lt "$1" ] && echo "$left" || echo "$1"
}

# every second while a step runs: "t EPOCH USED_MIB UTIL_PCT", then "p PID MIB" per process
sample_gpu() {
    while :; do
        echo "t $(date +%s.%N) $(nvidia-smi --query-gpu=memory.used,utilization.gpu \
            --format=csv,noheader,nounits | head -1 | tr -d ' ' | tr ',' ' ')"
        nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits \
            | tr -d ' ' | tr ',' ' ' | sed 's/^/p /'
        sleep 1
    done
}

# run NAME CAP_S SAMPLES COMMAND...: the command under the budget, its output in NAME.log, its
# exit code and seconds in NAME.rc; the GPU sampled into SAMPLES (a file, or /dev/null)
run() {
    local name=$1 cap samples=$3; cap=$(allow "$2"); shift 3
    if [ "$cap" -le 10 ]; then
        echo "skipped 0" >"$work/$name.rc"; say "$name: no budget left"; return
    fi
    sample_gpu >"$samples" 2>/dev/null &
    local sampler=$! t=$(date +%s)
    timeout "$cap" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
    echo "$rc $(($(date +%s) - t)) $cap" >"$work/$name.rc"
    say "$name: exit $rc after $(($(date +%s) - t)) s (limit $cap s)"
    if [ -f "$work/$name/sweep.log" ]; then  # the sweep's own output, after bench's
        cat "$work/$name/sweep.log" >>"$out/$name.log"
    fi
}

"$py" - >"$work/env.json" <<'EOF'
import json, subprocess, torch
smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                      "--format=csv,noheader"], capture_output=True, text=True).stdout
print(json.dumps({"gpu": smi.strip().splitlines()[0], "torch": torch.__version__,
                  "cuda": torch.version.cuda, "gpus": torch.cuda.device_count(),
                  "bf16_native": torch.cuda.is_bf16_supported(including_emulation=False)}))
EOF
[ -s "$work/env.json" ] || echo '{}' >"$work/env.json"
say "$(cat "$work/env.json")"

run tests 60 /dev/null "$py" -m pytest -q -m gpu -p no:cacheprovider tests/test_devices.py
sweep=(-- --gpus-per-trial 0.25 --cpus-per-trial 2)
run smoke 110 "$out/smoke.gpu.txt" "$py" bench/full_study.py --out "$work/smoke" "${sweep[@]}" \
    --smoke-test --precision fp32
run precision 60 /dev/null "$py" bench/precision.py --device cuda --quick \
    --json "$work/precision.json"
run quick 240 "$out/quick.gpu.txt" "$py" bench/full_study.py --out "$work/quick" "${sweep[@]}" \
    --preset quick --precision auto

commit=$(git rev-parse --short HEAD 2>/dev/null)
"$py" - "$work" "$out" "$commit" <<'EOF' | tee -a "$out/gpu_check.txt"
"""Each step's figures: exit, seconds, the sweep's wall and pick, and the GPU's sharing."""
import datetime, json, sys
from pathlib import Path

work, out, commit = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]


def gpu(name):
    """Most trial processes on the GPU in one sample, the MiB each held then, peak use
    (nvidia-smi says [N/A] for what it cannot read, and lists no process it cannot see)."""
    samples, cur = [], None
    for line in (out / f"{name}.gpu.txt").read_text().splitlines():
        kind, *v = line.split()
        if kind == "t" and len(v) == 3:
            cur = {"used": v[1], "util": v[2], "procs": {}}
            samples.append(cur)
        elif kind == "p" and cur is not None and len(v) == 2 and v[1].isdigit():
            cur["procs"][v[0]] = int(v[1])
    if not samples:
        return {}
    most = max(samples, key=lambda s: len(s["procs"]))
    peak = {k: max((int(s[k]) for s in samples if s[k].isdigit()), default=None)
            for k in ("used", "util")}
    return {"samples": len(samples), "most_processes_at_once": len(most["procs"]),
            "their_mib": sorted(most["procs"].values()), "peak_used_mib": peak["used"],
            "peak_util_pct": peak["util"]}


result = {"date": datetime.date.today().isoformat(), "commit": commit,
          "env": json.loads((work / "env.json").read_text())}
for name in ("tests", "smoke", "precision", "quick"):
    rc = (work / f"{name}.rc").read_text().split() if (work / f"{name}.rc").exists() else []
    step = {"exit": rc[0] if rc else "not run", "seconds": int(rc[1]) if len(rc) > 1 else None}
    if (out / f"{name}.gpu.txt").exists():
        step["gpu"] = gpu(name)
    summary = work / name / "full_study.json"
    if summary.exists():
        fs = json.loads(summary.read_text())
        step.update({k: fs[k] for k in ("wall_s", "sweep_s", "statuses", "trial_epochs",
                                         "peak_rss_gib", "best")})
    if name == "precision" and (work / "precision.json").exists():
        step["figures"] = json.loads((work / "precision.json").read_text())
    if name == "tests" and (out / "tests.log").exists():
        lines = (out / "tests.log").read_text().strip().splitlines()
        step["summary"] = lines[-1] if lines else ""
    result[name] = step
(out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
for name in ("tests", "smoke", "precision", "quick"):
    print(f"gpu_check: {name}: " + json.dumps(result[name], default=str)[:600])
failed = [name for name in ("tests", "smoke", "precision", "quick")
          if result[name]["exit"] != "0"]
print(f"gpu_check: {'failed or not run: ' + ', '.join(failed) if failed else 'every step passed'}"
      f"; figures in {out}")
sys.exit(1 if failed else 0)
EOF
status=$?
rm -rf "$work"
exit "$status"

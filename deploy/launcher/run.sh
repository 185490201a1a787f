#!/usr/bin/env bash
# Bring up (or update) the cluster of deploy/launcher/cluster.yaml and run the quick
# compound-scaling study on its head; from the repository's root, with the project installed
# (`make install`: the same Ray as the image's). Walkthrough: docs/cluster.md.
#
#   deploy/launcher/run.sh
#   .venv/bin/ray attach deploy/launcher/cluster.yaml --tmux    # the study's output
#   .venv/bin/ray down -y deploy/launcher/cluster.yaml           # stop every node
set -euo pipefail
cd "$(dirname "$0")/../.."
ray=${RAY:-.venv/bin/ray}
config=deploy/launcher/cluster.yaml

# cluster.yaml copies both files to every node
if [ ! -s ~/.config/rnn-sweeps/cluster.env ]; then
    echo "run.sh: ~/.config/rnn-sweeps/cluster.env is missing: the S3 keys and database" \
        "password every node reads (docs/cluster.md)" >&2
    exit 2
fi
RAY_AUTH_MODE=token "$ray" get-auth-token --generate >/dev/null  # keeps an existing token

"$ray" up -y "$config"

# The driver runs on the head, in tmux so that it outlives this ssh session. The tracking
# server and PostgreSQL are at 10.0.0.5 (private addresses pass MLflow's host check as they
# are); the driver decides --precision from its own CPU, so it is given.
"$ray" exec --tmux "$config" "set -a && . ~/rnn-sweeps.env && set +a && cd /app && \
    RAY_AUTH_MODE=token python sweeps/compound_scaling.py --preset quick --search tpe \
    --num-samples 12 --address auto --cpus-per-trial 2 --precision fp32 \
    --storage-path s3://rnn-sweeps/ray_results --tracking-uri http://10.0.0.5:5000 \
    --optuna-storage postgresql://optuna@10.0.0.5:5432/optuna"

# Fresh machine: `make run` (the quick compound-scaling sweep) or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install system-deps audio-tools run smoke test test-fast lint mlflow-ui optuna-dashboard clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned, so a CPU machine takes the local CPU build (not a multi-GB CUDA one)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -e '.[dev]'
	# pip compiles what it installs to bytecode one file at a time; compileall writes the same
	# .pyc files on every core. A file that does not compile is left out, as pip leaves it out
	# (torch ships one in Python 3.12's syntax). This checkout's own modules too, which pip does
	# not compile: where PYTHONDONTWRITEBYTECODE is set, as on the project's machines, every
	# process (each sweep's driver and trial workers) would compile them again.
	$(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
		rnn_core sweeps reports search_spaces bench >/dev/null || true
	# numba compiles librosa's MFCC kernels on first use (~20 s) and caches them in the venv:
	# once here, not in the first spoken-words sweep or test
	$(PY) -c "import numpy as np; from rnn_core.data.clips import SAMPLE_RATE, mfcc, mfcc_batch; \
		y = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1; \
		mfcc(y); mfcc_batch([y, y])"
	touch $(STAMP)

install: $(STAMP) system-deps

# The Debian packages the tests and the studies need, installed when missing, so `make test` and
# `make run` work on a fresh machine: Chromium and its driver (the report's PNG figures through
# kaleido, and the browser tests of the MLflow UI and optuna-dashboard); espeak-ng and flite
# speak the spoken digits' synthetic voices, asterisk-core-sounds-en-wav and saytime hold the two
# recorded human voices, sox checks the mu-law decoding in a test; PostgreSQL is the database of
# the tests' MLflow tracking server and Optuna studies (tests/_servers.py starts its own cluster
# on a free port, as Debian's postgres user when run as root). apt-get runs as root, or
# through sudo when sudo needs no password; otherwise one line names what to install, and the
# tests that need a missing package skip with that reason (CI sets RNN_SWEEPS_REQUIRE_BROWSER=1,
# RNN_SWEEPS_REQUIRE_AUDIO_TOOLS=1 and RNN_SWEEPS_REQUIRE_POSTGRES=1, which turn those skips into
# failures). The test of nodes that share no disk needs root for its mount namespace (util-linux's
# unshare), and skips without it unless RNN_SWEEPS_REQUIRE_UNSHARE=1 (CI).
BROWSER_APT := chromium chromium-driver fonts-liberation
AUDIO_APT := espeak-ng flite sox asterisk-core-sounds-en-wav saytime
DATABASE_APT := postgresql
SYSTEM_APT := $(BROWSER_APT) $(AUDIO_APT) $(DATABASE_APT)
system-deps:
	@missing=""; for p in $(SYSTEM_APT); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
			|| missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "make: not installed:$$missing (no apt-get here; the tests that need them skip)"; exit 0; fi; \
	sudo=""; if [ "$$(id -u)" != 0 ]; then \
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else \
		echo "make: not installed:$$missing (run as root: apt-get install$$missing;" \
			"the tests that need them skip)"; exit 0; fi; fi; \
	echo "make: apt-get install$$missing"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
		--no-install-recommends$$missing >/dev/null

# Kept for the commands people already type; the same as system-deps.
audio-tools: system-deps

run: $(STAMP) system-deps
	$(PY) sweeps/compound_scaling.py --preset quick

smoke: $(STAMP) system-deps
	$(PY) sweeps/compound_scaling.py --smoke-test

# Two pytest workers, a file to each at a time (tests/conftest.py): most tests run real sweeps,
# servers and clusters whose waits leave a core idle in a serial run.
test: $(STAMP) system-deps
	$(PY) -m ruff check .
	$(PY) -m pytest -q -rs --durations=25 -n 2

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

# The MLflow UI on this folder's store, local only (127.0.0.1), quick to start: one uvicorn
# worker and no job runner (MLflow otherwise starts ~8 Huey consumer processes for GenAI jobs).
# `make mlflow-ui MLFLOW_DB=/path/m.db MLFLOW_PORT=5001` for another store or port.
MLFLOW_DB ?= mlruns.db
MLFLOW_PORT ?= 5000
mlflow-ui: $(STAMP)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow server \
		--backend-store-uri sqlite:///$(MLFLOW_DB) --host 127.0.0.1 --port $(MLFLOW_PORT) --workers 1

# Optuna's dashboard on the study file that sampled searches (--search random|tpe|nsga2) keep
# beside mlruns.db, local only (127.0.0.1). `make optuna-dashboard OPTUNA_DB=/path/optuna.db
# OPTUNA_PORT=8081` for another file or port. The file must exist: the dashboard would create
# an empty one.
OPTUNA_DB ?= optuna.db
OPTUNA_PORT ?= 8080
optuna-dashboard: $(STAMP)
	@test -f $(OPTUNA_DB) || { echo "make optuna-dashboard: $(OPTUNA_DB) not found; run a \
	sampled search first (--search tpe), or give OPTUNA_DB=/path/optuna.db" >&2; exit 2; }
	$(VENV)/bin/optuna-dashboard sqlite:///$(abspath $(OPTUNA_DB)) --host 127.0.0.1 \
		--port $(OPTUNA_PORT)

clean:
	rm -rf ray_results mlruns.db mlartifacts report reports/*-*/

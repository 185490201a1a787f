# Fresh machine: `make run` (the quick compound-scaling sweep) or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install audio-tools run smoke test test-fast lint mlflow-ui optuna-dashboard clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned, so a CPU machine takes the local CPU build (not a multi-GB CUDA one)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) audio-tools

# The spoken-digits data's programs and recordings (Debian packages), installed when missing:
# espeak-ng and flite speak the synthetic voices, asterisk-core-sounds-en-wav and saytime hold
# the two recorded human voices, sox checks the mu-law decoding in a test. Without apt-get
# (or root/sudo) it says what to install; the tests that need them skip with that reason.
AUDIO_APT := espeak-ng flite sox asterisk-core-sounds-en-wav saytime
audio-tools:
	@missing=""; for p in $(AUDIO_APT); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "install$$missing for the spoken digits"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
		--no-install-recommends$$missing >/dev/null

run: $(STAMP)
	$(PY) sweeps/compound_scaling.py --preset quick

smoke: $(STAMP)
	$(PY) sweeps/compound_scaling.py --smoke-test

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -rs

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

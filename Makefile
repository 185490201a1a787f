# Fresh machine: `make run` (the quick compound-scaling sweep) or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run smoke test test-fast lint mlflow-ui clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned, so a CPU machine takes the local CPU build (not a multi-GB CUDA one)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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

# The MLflow UI on this folder's store, local only.
mlflow-ui: $(STAMP)
	$(VENV)/bin/mlflow server --backend-store-uri sqlite:///mlruns.db --host 127.0.0.1 \
		--port 5000 --workers 1

clean:
	rm -rf ray_results mlruns.db mlartifacts report

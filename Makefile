# The two commands of the README: `make app` and `make test`. Both set up .venv first.
# `make app` installs what the dashboard needs; `make test` adds the test tools (requirements-dev.txt).
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.app: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.app requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

.PHONY: setup app test bench lint
setup: $(VENV)/.dev

app: $(VENV)/.app
	$(PY) -m streamlit run app.py

test: $(VENV)/.dev
	bash scripts/ensure_services.sh
	$(PY) -m pytest -q

bench: $(VENV)/.app
	$(PY) benchmarks/bench_inference.py

lint: $(VENV)/.dev
	$(PY) -m ruff check .

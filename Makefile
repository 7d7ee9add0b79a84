# The two commands of the README: `make app` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

.PHONY: setup app test bench lint
setup: $(VENV)/.installed

app: setup
	$(PY) -m streamlit run app.py

test: setup
	bash scripts/ensure_services.sh
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_inference.py

lint: setup
	$(PY) -m ruff check .

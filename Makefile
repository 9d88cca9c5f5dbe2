# `make test` and `make demo` on a fresh machine: create .venv once, install, run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_run

.PHONY: install test demo clean bench

install: $(STAMP)

# Reinstall only when requirements.txt changes.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) demo.py --out=$(DEMO_DIR)

bench: $(STAMP)
	$(PY) benchmarks/bench_batches.py
	$(PY) benchmarks/bench_train.py --hparams=preset=small
	$(PY) benchmarks/bench_sample.py

clean:
	rm -rf $(VENV) .cache $(DEMO_DIR)

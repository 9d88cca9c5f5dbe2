# `make test` and `make demo` on a fresh machine: create .venv once, install, run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# GPU=1 (on every make command of a GPU machine): TensorFlow with CUDA, from requirements-gpu.txt.
GPU ?=
REQS := $(if $(GPU),requirements-gpu.txt,requirements.txt)
STAMP := $(VENV)/.installed$(if $(GPU),-gpu)
DEMO_DIR ?= demo_run

.PHONY: install test demo clean bench lint paper-small claims

install: $(STAMP)

# Reinstall only when the requirements file changes.
$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r $(REQS)
	touch $(STAMP)

# Two workers (pytest-xdist): one test process leaves the second core mostly idle, since
# most tests are short TensorFlow runs on 1-2 threads. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal tests --durations=15

demo: $(STAMP)
	$(PY) tools/demo.py --out=$(abspath $(DEMO_DIR))

# The real-data study (hours on 2 cores; resumable: rerun to continue). results/quickdraw4/, pretrained/quickdraw4/.
paper-small: $(STAMP)
	$(PY) tools/reproduce.py --study quickdraw4

# The paper's claims with error bars: 18 models of 3000 steps (many hours on 2 cores; resumable,
# run in seed order). results/claims/.
claims: $(STAMP)
	$(PY) tools/reproduce.py --study claims

bench: $(STAMP)
	$(PY) benchmarks/bench_batches.py
	$(PY) benchmarks/bench_train.py --hparams=preset=small
	$(PY) benchmarks/bench_sample.py

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .cache $(DEMO_DIR)

# Look inside the shipped model (docs/EXPLORE.md): the page, and the code map.
.PHONY: serve explore-map
serve: $(STAMP)
	$(PY) tools/serve.py --checkpoint pretrained/quickdraw4 --data_dir data

explore-map: $(STAMP)
	$(PY) tools/explore.py map --checkpoint pretrained/quickdraw4 --data_dir data --out out/explore

.PHONY: device-check bench-shapes
# On a GPU machine (fresh clone): install the GPU build, train/sample/score, measure; < 8 minutes.
device-check:
	bash benchmarks/device_check.sh

# Distinct padded batch shapes (programs XLA compiles) over an epoch, with and without shape_buckets.
bench-shapes: $(STAMP)
	$(PY) benchmarks/bench_shapes.py --shape_buckets 4,8

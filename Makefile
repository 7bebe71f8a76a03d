PY ?= python
PIP_INSTALL = $(PY) -m pip install -q -c constraints.txt

.PHONY: install install-dev run quick test lint throughput

install:
	$(PIP_INSTALL) -e .

install-dev:
	$(PIP_INSTALL) -e ".[dev]"

## Main job: the baseline comparison on the embedded offline default.
run: install
	$(PY) -m benchmarks.compare

quick: install
	$(PY) -m benchmarks.compare --quick

## The test suite CI runs (the whole suite).
test: install-dev
	$(PY) -m pytest -q

lint:
	$(PY) -m ruff check .

throughput: install
	$(PY) -m benchmarks.throughput

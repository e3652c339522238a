# The README's commands. `make demo` sets up and runs the demo; `make test` sets up and runs the tests.
PY := .venv/bin/python

.PHONY: setup demo test lint bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/nodered-causal demo

test:
	bash scripts/setup.sh --system
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest

lint:
	.venv/bin/ruff check nodered_causal tests benchmarks
	.venv/bin/ruff format --check nodered_causal tests benchmarks
	.venv/bin/mypy

bench: setup
	$(PY) benchmarks/run.py

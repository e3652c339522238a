# The README's commands. `make demo` sets up and runs the demo; `make test` sets up and runs the tests.
PY := .venv/bin/python

.PHONY: setup demo test lint bench screenshots

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

# `make bench BENCH=parse` runs benchmarks/bench_parse.py; without BENCH it lists them (each is
# long; their numbers are in benchmarks/RESULTS.md)
bench: setup
	@if [ -n "$(BENCH)" ]; then $(PY) benchmarks/bench_$(BENCH).py; else \
	  echo "make bench BENCH=<name>, one of:"; ls benchmarks/bench_*.py | sed 's/.*bench_//; s/\.py$$//'; fi

# The README's editor and report pictures, taken by the browser test (Node-RED 4; 5 for the second).
screenshots:
	$(PY) -m pytest -q -p no:cacheprovider tests/integration/test_editor_plugin.py
	cp test-artifacts/editor-fault-nr4.png docs/editor-fault.png
	cp test-artifacts/editor-answer-nr4.png docs/editor-answer.png
	cp test-artifacts/editor-answer-nr5.png docs/editor-answer-nr5.png
	cp test-artifacts/report-attribute-nr4.png docs/report-attribute.png

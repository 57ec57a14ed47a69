# nr-femto-testbed: the two commands a new user needs are 'make demo' and 'make test'.
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
FUZZ_SECONDS ?= 300

.PHONY: setup demo test unit integration fuzz fuzz-short lint bench clean-runs

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m testbed.cli.main demo topologies/home-femto.yaml

# Unit tests (no root), a short fuzz run of every network-facing decoder, then the
# integration tests (root). Skipped groups are listed with the reason; "no tests" fails.
test: setup
	bash scripts/run-tests.sh

unit: setup
	$(PYTEST) -q tests/unit

integration: setup
	$(PYTEST) -q tests/integration

fuzz-short: setup
	$(PY) scripts/fuzz.py --seconds 5

fuzz: setup
	$(PY) scripts/fuzz.py --seconds $(FUZZ_SECONDS)

lint: setup
	.venv/bin/ruff check testbed tests benchmarks scripts

bench: setup
	$(PY) benchmarks/bringup.py

clean-runs: setup
	$(PY) -m testbed.cli.main clean

# onemount: two commands on a fresh machine, `make demo` and `make test`.
# Every target installs what it needs first; a second run skips what is already there.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MERMAID_STAMP := tools/mermaid/node_modules/.installed-stamp
PYTEST_ARGS ?=

.PHONY: all setup test lint typecheck spec-check pytest model demo demo-stop diagrams diagrams-check bench clean

all: test

# The stamp depends on pyproject.toml, so a changed dependency list reinstalls; otherwise
# setup is a no-op and `make test` goes straight to the checks.
$(STAMP): pyproject.toml scripts/ensure-system-deps
	./scripts/ensure-system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Mermaid's own parser (node + jsdom) validates the generated .mmd diagrams in the tests.
$(MERMAID_STAMP): tools/mermaid/package.json tools/mermaid/package-lock.json
	npm ci --prefix tools/mermaid --silent --no-audit --no-fund
	touch $(MERMAID_STAMP)

setup: $(STAMP) $(MERMAID_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check onemount models tests bench
	$(BIN)/ruff format --check onemount models tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

spec-check: $(STAMP)
	$(BIN)/onemount spec check

pytest: $(STAMP) $(MERMAID_STAMP)
	$(BIN)/pytest -q -m "not bench and not live" $(PYTEST_ARGS)

model: $(STAMP)
	$(BIN)/pytest -q -m model $(PYTEST_ARGS)

test: lint typecheck spec-check diagrams-check pytest

diagrams: $(STAMP)
	$(BIN)/python -m onemount.statemachine.diagramcheck --write docs/diagrams

# Regenerates into a scratch folder and compares: stale diagrams in docs/ fail the build.
diagrams-check: $(STAMP)
	$(BIN)/python -m onemount.statemachine.diagramcheck docs/diagrams

bench: $(STAMP)
	$(BIN)/python -m bench.run

# A fake OneDrive mounted for real at ./demo-mount, and a tour; the mount stays up.
demo: $(STAMP)
	$(BIN)/python -m onemount.demo

# Unmount ./demo-mount and stop the demo's fake Graph (its files stay in .demo/).
demo-stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m onemount.demo --stop; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The two commands of the README: `make demo` and `make test`. Each bootstraps .venv by itself
# (Python 3.11, dependencies pinned by pyproject.toml and constraints.txt) when it is missing
# or older than those files.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck reliability bench bench-smoke ui screenshots clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/finance-pipeline demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy finance_pipeline
	$(BIN)/pytest

typecheck: $(STAMP)
	$(BIN)/mypy finance_pipeline

# The fault suite alone, publishing its figures to docs/reliability.{md,json} (make test does not).
reliability: $(STAMP)
	FINANCE_PIPELINE_RELIABILITY_FIGURES=docs $(BIN)/pytest finance_pipeline_tests/reliability

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.readme_table

bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke

ui: $(STAMP)
	$(BIN)/finance-pipeline ui

# The README's UI screenshots (docs/ui_*.png): make demo, then make ui, shot with Debian's Chromium.
screenshots: $(STAMP)
	$(BIN)/python -m finance_pipeline_tests.ui.screenshots

clean:
	rm -rf $(VENV) .demo .lake .sandbox_cache bench/.scratch

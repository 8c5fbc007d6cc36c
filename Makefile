# The map of the pipeline: `make help`. Each target creates/updates the venv it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install build tables test test-fast benchmark patterns patterns-all clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	-git rev-parse --git-dir >/dev/null 2>&1 && $(BIN)/nbstripout --install --attributes .gitattributes
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its test tools

build: $(STAMP)  ## rebuild everything from data/raw: tables, charts, workbook, executed notebooks
	$(BIN)/python -m analysis build

tables: $(STAMP)  ## rebuild the processed tables only
	$(BIN)/python -m analysis build --tables-only

test: $(STAMP)  ## run the whole test suite (executes the notebooks too)
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## tests without the slow ones (notebook execution, full builds)
	$(BIN)/python -m pytest -m "not slow"

benchmark: $(STAMP)  ## speed, scale and coder-quality figures (prints; no pass/fail)
	$(BIN)/python benchmarks/run.py

patterns: $(STAMP)  ## after editing the coding rules: the compiled patterns shipped for a fresh clone (commit them)
	$(BIN)/python -m analysis.regex_store --ship

PATTERN_PYTHONS ?= python3.12 python3.13
patterns-all: patterns  ## the same for the other Pythons shipped for (PATTERN_PYTHONS; a venv each in .venv-patterns/)
	@for py in $(PATTERN_PYTHONS); do \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])') || exit 1; \
	  test -x .venv-patterns/$$v/bin/python || $$py -m venv .venv-patterns/$$v || exit 1; \
	  .venv-patterns/$$v/bin/python -m pip install --quiet -e . || exit 1; \
	  .venv-patterns/$$v/bin/python -m analysis.regex_store --ship || exit 1; \
	done

clean:  ## remove everything the build made (data/raw is never touched)
	rm -rf data/processed/*.csv data/processed/*.parquet reports

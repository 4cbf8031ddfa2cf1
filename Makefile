# Quick start:  make demo   (sets up and runs the demo)
#               make test   (sets up and runs the tests)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint sysdeps faults bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/torrentino-bridge demo

# System tools some tests drive (systemd-analyze, headless Chromium); installed when missing.
sysdeps:
	@bash .ci/sysdeps.sh

test: $(STAMP) sysdeps
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n auto -m "not serial"
	$(BIN)/pytest -q -m serial

lint: $(STAMP)
	$(BIN)/ruff check .

# Fault injection at full size: kill storm (220 requests, 34 SIGKILLs), a one-minute QT
# outage (FAULTS_OUTAGE_SECS=N for a shorter one), catalog lock contention, hostile input.
# `make test` runs the same tests at a reduced size. FAULTS_SEED=N replays a run.
faults: $(STAMP)
	FAULTS_SCALE=full $(BIN)/pytest -q -s -m faults tests/faults

# Benchmarks, each against a baseline taken in the same run: a table on stdout, JSON in
# bench/results/. `$(BIN)/python -m bench.run events` runs one.
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info

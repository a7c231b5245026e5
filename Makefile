# Targets: help, install, run, test, lint, bench, clean.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test lint bench clean

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): setup.cfg constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,dev]'
	touch $@

install: $(STAMP)  ## Create .venv and install the platform with its test tools

run: install  ## Start Redis (embedded unless REDIS_URL is set), API, worker and Flower
	$(BIN)/python -m workers.stack

test: install  ## Run the whole test suite against real Redis and Celery workers
	$(BIN)/pytest

lint: install  ## Static checks (ruff)
	$(BIN)/ruff check .

bench: install  ## Measure throughput, latency and memory; writes BENCHMARKS.md
	$(BIN)/python -m bench

clean:  ## Remove the virtualenv and local data
	rm -rf $(VENV) var *.egg-info

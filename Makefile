# Targets: help, install, run, test, browser, lint, bench, accuracy, clean.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test browser lint bench accuracy clean

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): setup.cfg constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,dev,client]'
	touch $@

install: $(STAMP)  ## Create .venv and install the platform with its test tools

run: install  ## Start Redis (embedded unless REDIS_URL is set), API, worker and Flower
	$(BIN)/python -m workers.stack

test: install browser  ## Run the whole test suite against real Redis and Celery workers
	$(BIN)/pytest

# Debian's Chromium and chromedriver for the dashboard's browser test, when missing and root
# can apt-get them (as on CI). Never fails: without them that one test skips, saying why.
browser:  ## Install Chromium and chromedriver for the browser test (as root, with apt)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing chromium and chromium-driver for the dashboard's browser test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium chromium-driver >/dev/null; } \
	  || echo "Could not install Chromium: the dashboard's browser test will skip"; \
	else echo "No Chromium/chromedriver and not root: the dashboard's browser test will skip"; \
	fi

lint: install  ## Static checks (ruff)
	$(BIN)/ruff check .

bench: install  ## Measure throughput, latency and memory; writes BENCHMARKS.md
	$(BIN)/python -m bench

accuracy: install  ## All 23,703 VADER paper snippets through the pipeline; writes ACCURACY.md
	$(BIN)/python -m bench.accuracy

clean:  ## Remove the virtualenv and local data
	rm -rf $(VENV) var *.egg-info

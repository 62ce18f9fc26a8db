# The two commands a newcomer needs: `make demo` and `make test` (see README.md).
# Both set up what they need: a virtualenv with the package, and the stack's jars via Maven.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
SITREP := $(BIN)/sitrep
STAMP  := $(VENV)/.installed

.PHONY: setup browser tools demo test test-reliability lint unit audit down status clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@command -v java >/dev/null || { echo "Java 17+ is required (java not found)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required (mvn not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Start Kafka and Elasticsearch, create the topics and run the pipeline as far as it exists.
demo: setup
	$(SITREP) stack up
	$(SITREP) topics ensure
	$(SITREP) demo
	@echo "Everything keeps running: $(SITREP) demo stop stops the pipeline, $(SITREP) stack down all of it."

## Lint, type-check and run every test; integration tests start (and stop) the real stack.
## The long outages of the fault-injection suite run in test-reliability.
test: setup browser tools lint
	$(BIN)/pytest -m 'not long'

## The fault-injection scenarios with minutes of outage (Kafka 30 s, Elasticsearch 120 s).
test-reliability: setup
	$(BIN)/pytest -m long tests/reliability

## Debian's chromium for the control-room browser tests (Playwright drives it; it never
## downloads a browser of its own). Installed with apt when missing (needs root, or sudo).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y --no-install-recommends chromium; }; }
	@test -x $(CHROMIUM) || { echo "chromium is required for the browser tests ($(CHROMIUM))"; exit 1; }

## The validators of deploy/ (tests/deploy): Docker Compose, to render the compose file without
## an engine, and kubeconform for the Kubernetes manifests; built with Go from the module proxy
## into .tools/ (minutes the first time, nothing afterwards).
## Go's default install folder is searched too: the deploy tests ask Go for schemas at run time.
export PATH := $(PATH):/usr/local/go/bin
tools:
	@deploy/compose/install-compose.sh
	@deploy/k8s/install-kubeconform.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Known vulnerabilities of the installed dependencies (pip-audit against PyPI's advisory
## data; the project itself, installed editable, is skipped). Fails on every vulnerability
## with a fixed version, and when a dependency cannot be audited at all (--strict).
AUDIT_REPORT := $(VENV)/pip-audit.json
audit: setup
	@rm -f $(AUDIT_REPORT)
	$(BIN)/pip-audit --skip-editable --strict --progress-spinner off \
	  --format json --output $(AUDIT_REPORT) || test -s $(AUDIT_REPORT)
	$(BIN)/python -m sitrep.vulnerabilities $(AUDIT_REPORT)

## Only the tests that need no services.
unit: setup tools
	$(BIN)/pytest -m 'not integration'

down: setup
	$(SITREP) stack down

status: setup
	$(SITREP) stack status

clean: down
	rm -rf .sitrep $(VENV) deploy/local/elasticsearch/target

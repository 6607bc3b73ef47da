# Quickstart: `make run` and `make test`. Everything lives in .venv and .data/.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run smoke test test-fast bench-smoke peer-venv lint format venv browser screenshots clean-data

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pinned requirements change.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The console's browser tests drive Debian's chromium (Playwright's own browser download is never used).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

browser: $(CHROMIUM)

run: venv
	$(PY) manage.py quickstart

smoke: venv
	$(PY) manage.py quickstart --smoke

# Everything: lint, every benchmark at its smoke size, then the whole suite (real workers, the browser and the
# end-to-end boot included).
test: lint browser bench-smoke
	RAG_DATA_DIR=$(CURDIR)/.data/test $(VENV)/bin/pytest

# The inner loop: no real-worker, browser or end-to-end tests (CI still runs `make test`).
test-fast: lint
	RAG_DATA_DIR=$(CURDIR)/.data/test $(VENV)/bin/pytest -m "not worker and not e2e and not browser"

# The console's browser tests, saving a screenshot of each page to docs/console/ (shown in the README).
screenshots: venv browser
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console RAG_DATA_DIR=$(CURDIR)/.data/test $(VENV)/bin/pytest -m browser tests/console

# The LangChain peer of bench/peer_compare.py, in its own virtual environment (bench-only requirements).
PEER_VENV := .data/peer-venv
$(PEER_VENV)/.installed: bench/requirements-peer.txt | $(VENV)/.installed
	$(PY) bench/peer_compare.py --install-peer
	touch $@

peer-venv: $(PEER_VENV)/.installed

# Each bench/*.py script with --smoke (seconds each) on servers of its own; a script without --smoke fails.
bench-smoke: venv peer-venv
	RAG_DATA_DIR=$(CURDIR)/.data/bench-smoke $(PY) bench/benchsmoke.py

lint: venv
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --check --no-cache .
	$(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Stops the embedded servers and deletes their data (demo data is reloaded by `make run`).
clean-data: venv
	-$(PY) manage.py embedded_services stop
	rm -rf .data

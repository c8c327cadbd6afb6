# linkback: `make demo`, `make test`, `make bench`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean check-fresh system-deps docs-screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/linkback demo

test: $(STAMP) system-deps
	$(BIN)/ruff check linkback tests examples benchmarks
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The admin's end-to-end test drives Debian's Chromium; install it when missing.
system-deps:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed; browser tests will be skipped"; \
	fi

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Refresh the README's screenshots (docs/*.png) from the demo in headless Chromium.
docs-screenshots: $(STAMP) system-deps
	LINKBACK_DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_docs_screenshots.py

check-fresh:
	bash scripts/check-fresh.sh

clean:
	rm -rf $(VENV) build dist *.egg-info

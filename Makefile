# The two commands that matter (see README):
#   make demo   set everything up on a fresh machine and cloak the bundled example photo
#   make test   run the whole test suite (lint, Python tests, JavaScript tests, browser tests)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Tests read real weights from a project-local folder so they never touch the user's cache.
TEST_MODELS := $(CURDIR)/.models

.PHONY: setup models test test-fast test-js lint demo extension clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

models: setup
	CLOAKER_MODELS_DIR=$(TEST_MODELS) $(BIN)/cloaker models fetch

lint: setup
	$(BIN)/ruff check .

# playwright-core (drives Debian's chromium in the browser tests; no browser download).
NODE_DEPS := node_modules/.package-lock.json
$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund

# The extension's unit tests (node's test runner; no dependencies).
test-js:
	node --test extension/tests/

test: setup models lint test-js $(NODE_DEPS)
	$(BIN)/pytest

test-fast: setup models test-js
	$(BIN)/pytest -m "not slow and not browser"

# Loadable folders and packed archives for Chrome and Firefox, in build/extension/.
extension:
	node extension/build.mjs

demo: setup
	$(BIN)/cloaker models fetch
	$(BIN)/cloaker cloak examples/astronaut.jpg -o out
	$(BIN)/cloaker verify examples/astronaut.jpg out/astronaut.cloaked.jpg

clean:
	rm -rf out build dist artifacts .pytest_cache .ruff_cache

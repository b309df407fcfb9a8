# skintrack: `make run` starts the app on http://127.0.0.1:8501, `make test` runs every test.
# Three installs, each a superset of the one before: the app (`setup`: no torch, about 1 GB),
# the training tools (`train-setup`: torch), the test tools (`dev`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.train-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: setup train-setup dev run test lint deps lock bench chromium clean

setup: $(STAMP)

# requirements.lock pins every package of requirements.txt's install (tools/lock.py, `make lock`).
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=70.1"
	$(PY) -m pip install -q --no-deps -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

lock:
	$(PYTHON) tools/lock.py

train-setup: $(TRAIN_STAMP)

$(TRAIN_STAMP): $(STAMP) requirements-train.txt
	$(PY) -m pip install -q -r requirements-train.txt
	touch $@

dev: $(DEV_STAMP)

$(DEV_STAMP): $(TRAIN_STAMP) requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: setup
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port 8501

# Browser tests use Debian's Chromium (never `playwright install`). Installed when
# missing and we may (root); otherwise those tests skip and say why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: browser tests will skip"; \
	  else echo "chromium missing and not root: browser tests will skip"; fi; }

# Lint: ruff's rules and its formatting, and the layers of the core (import-linter).
lint: dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports

# Every import is a listed requirement, every requirement is imported, no dev tool in the code.
deps: dev
	$(PY) -m deptry --config deptry.toml .

test: lint deps chromium
	$(PY) -m pytest -q -p no:cacheprovider

bench: dev
	$(PY) -m skintrack bench

clean:
	rm -rf $(VENV) .pytest_cache test-output

# The app also for paired phones on this Wi-Fi, over HTTPS (see README, "Check in from your phone").
.PHONY: run-phone
run-phone: setup
	$(PY) -m skintrack serve --lan

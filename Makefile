# skintrack: `make run` starts the app on http://127.0.0.1:8501, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.dev-installed
# The installed model exported to ONNX once, so that a check-in never waits for torch's import.
EXPORTED := cache/onnx/.exported
MODELS := $(wildcard models/*.pt)

.PHONY: setup dev run test lint bench chromium clean

setup: $(STAMP) $(EXPORTED)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(EXPORTED): $(STAMP) $(MODELS)
	$(PY) -m skintrack.serving --export
	mkdir -p $(@D) && touch $@

dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
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

lint: dev
	$(PY) -m ruff check .

test: dev chromium
	$(PY) -m ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

bench: setup
	$(PY) -m skintrack bench

clean:
	rm -rf $(VENV) .pytest_cache test-output

# The app also for paired phones on this Wi-Fi, over HTTPS (see README, "Check in from your phone").
.PHONY: run-phone
run-phone: setup
	$(PY) -m skintrack serve --lan

# Two commands for a fresh machine: `make run` and `make test`. Both create .venv as needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## Run the gateway on the embedded default: SQLite under data/, upstream http://127.0.0.1:11434.
run: $(STAMP)
	$(VENV)/bin/llmgate serve

## Run the whole test suite (PostgreSQL tests run when LLMGATE_TEST_DATABASE_URL is set).
test: $(STAMP)
	$(PY) -m pytest tests

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .cache test-artifacts

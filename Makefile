PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test clean

# Stamp files make the venv rebuild when pyproject.toml changes and not otherwise.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/gateway serve

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV)

# The fault soak (not part of `make test`): see bench/fault_soak.py.
.PHONY: soak
soak: $(VENV)/.installed-test
	$(BIN)/python -m bench.fault_soak

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench instructions clean

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

$(VENV)/.installed-bench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/gateway serve

# Two processes: CI has two cores, and one process took most of its five minutes.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n 2

# $(call debian_tool,COMMAND): make COMMAND (a Debian package of that name)
# present, installing it when run as root on Debian/Ubuntu, else saying how.
define debian_tool
@command -v $(1) >/dev/null 2>&1 || { \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "make $@: installing $(1)"; \
    apt-get install -y -qq $(1) >/dev/null 2>&1 || \
      { apt-get update -qq && apt-get install -y -qq $(1) >/dev/null; }; \
  else \
    echo "make $@ needs $(1): install it (Debian/Ubuntu: sudo apt-get install $(1)) and run again" >&2; \
    exit 1; \
  fi; }
endef

# The load generator is wrk (Debian package, C, far faster than the servers it
# measures). BENCH_QUICK=1 for a short run, BENCH_PROFILE=1 for a flame graph.
bench: $(VENV)/.installed-bench
	$(call debian_tool,wrk)
	$(BIN)/python -m bench.run $(if $(BENCH_QUICK),--quick) $(if $(BENCH_PROFILE),--profile)

# CPU instructions per chat, counted by valgrind: unmoved by other load on
# the machine, unlike the timings of `make bench`.
instructions: $(VENV)/.installed-bench
	$(call debian_tool,valgrind)
	$(BIN)/python -m bench.instructions

clean:
	rm -rf $(VENV)

# The fault soak (not part of `make test`): see bench/fault_soak.py.
.PHONY: soak
soak: $(VENV)/.installed-test
	$(BIN)/python -m bench.fault_soak

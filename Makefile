# dronectl — the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-sitl bench clean

venv: $(STAMP)

# An editable install (setuptools' default mode): the package runs from this checkout, missions/ included.
$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dronectl demo

test: $(STAMP)
	$(BIN)/pytest -q

test-sitl: $(STAMP)
	@test -n "$$DRONECTL_SITL_BIN" || { echo "set DRONECTL_SITL_BIN to an ArduPilot arducopter binary"; exit 2; }
	$(BIN)/pytest -q -m vehicle

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out

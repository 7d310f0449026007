# Two commands for a new user, each installing what it needs first:
#   make demo    train the main demo and write its pictures
#   make test    the whole test suite (fast hypothesis profile)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test test-thorough bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) -m demos.ddpm

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-thorough: $(VENV)/.installed
	HYPOTHESIS_PROFILE=thorough $(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

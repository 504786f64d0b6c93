# Two commands do all the set-up on a fresh machine: `make chapter` and `make test`.
# Both create .venv if it is missing (Python 3.11, else 3.10, else 3.12) and install the kit.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BASE_PYTHON ?= $(shell .ci/find-python 3.11 3.10 3.12)
SMOKE_PYTHON ?= $(shell .ci/find-python 3.12)
SMOKE_VENV ?= .venv312
STAMP := $(VENV)/.installed

.PHONY: setup chapter test unit notebooks smoke312 bench doctor clean

setup: $(STAMP)

$(STAMP): setup.cfg setup.py
	@test -n "$(BASE_PYTHON)" || { echo "No python3.11/3.10/3.12 found: install one of them." >&2; exit 1; }
	@test -x $(PY) || $(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,test,plot,progress,fuzz]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $(STAMP)

chapter: setup
	$(VENV)/bin/gluon-params chapter

doctor: setup
	$(VENV)/bin/gluon-params doctor

unit: setup
	$(PY) -m pytest -q

test: unit smoke312

# The shim path: Python 3.12 with numpy 1.26 (numpy.bool etc. restored before mxnet imports).
smoke312:
	@if [ -z "$(SMOKE_PYTHON)" ]; then echo "smoke312: no python3.12 here, skipped"; exit 0; fi; \
	set -e; \
	test -x $(SMOKE_VENV)/bin/python || $(SMOKE_PYTHON) -m venv $(SMOKE_VENV); \
	$(SMOKE_VENV)/bin/python -m pip install -q -e '.[cpu]'; \
	$(SMOKE_VENV)/bin/python -c "import numpy, gluon_params_kit as k; from gluon_params_kit import _compat as c; \
	assert numpy.__version__.startswith('1.26'), numpy.__version__; assert c.SHIMMED_ALIASES, 'shim not active'; \
	print('smoke312: import ok, numpy', numpy.__version__, 'shimmed', c.SHIMMED_ALIASES)"; \
	$(SMOKE_VENV)/bin/gluon-params doctor; \
	$(SMOKE_VENV)/bin/gluon-params chapter --check > $(SMOKE_VENV)/chapter.txt; tail -n 1 $(SMOKE_VENV)/chapter.txt

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) $(SMOKE_VENV) build *.egg-info

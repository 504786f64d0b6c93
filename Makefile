# Two commands do all the set-up on a fresh machine: `make chapter` and `make test`.
# Both create .venv if it is missing (Python 3.11, else 3.10, else 3.12) and install the kit
# with what that target needs, no more: `make chapter` the kit and mxnet only; `make test`
# adds the test tools (pytest-xdist, ruff, mypy), matplotlib, tqdm and the fuzzer;
# `make notebooks` adds JupyterLab.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BASE_PYTHON ?= $(shell .ci/find-python 3.11 3.10 3.12)
SMOKE_PYTHON ?= $(shell .ci/find-python 3.12)
SMOKE_VENV ?= .venv312
NP2_PYTHON ?= $(shell .ci/find-python 3.13 3.12)
NP2_VENV ?= .venv-np2
WHEEL_VENV ?= .venv-wheel
# setuptools prints a warning block on every editable install ("Editable installation ...
# be careful with folders ... with the same name as your package"); nothing to act on here.
PIP_INSTALL := PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install -q

.PHONY: setup setup-test setup-notebooks chapter test unit lint notebooks smoke312 files-np2 wheel \
	wheel-check browser screenshots bench doctor clean docs docs-images

$(PY):
	@test -n "$(BASE_PYTHON)" || { echo "No python3.11/3.10/3.12 found: install one of them." >&2; exit 1; }
	$(BASE_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

setup: $(VENV)/.installed-cpu
setup-test: $(VENV)/.installed-test
setup-notebooks: $(VENV)/.installed-notebooks

$(VENV)/.installed-cpu: setup.cfg setup.py | $(PY)
	$(PIP_INSTALL) -e '.[cpu]'
	@touch $@

$(VENV)/.installed-test: setup.cfg setup.py | $(PY)
	$(PIP_INSTALL) -e '.[cpu,test,plot,progress,fuzz,docs,fast]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $@ $(VENV)/.installed-cpu

$(VENV)/.installed-notebooks: setup.cfg setup.py | $(PY)
	$(PIP_INSTALL) -e '.[cpu,notebooks]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $@ $(VENV)/.installed-cpu

chapter: setup
	$(VENV)/bin/gluon-params chapter

doctor: setup
	$(VENV)/bin/gluon-params doctor

# JupyterLab on the project's venv, in notebooks/ (its kernel "python3" is that venv).
notebooks: setup-notebooks
	cd notebooks && ../$(VENV)/bin/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Imports sorted and no unused names (ruff), and the package's types (mypy): both clean.
LINT_PATHS := gluon_params_kit tests benchmarks notebooks/build.py docs
lint: setup-test
	$(VENV)/bin/ruff check --select I,F401,F811,F841 --line-length 120 $(LINT_PATHS)
	$(VENV)/bin/mypy gluon_params_kit

# The interop extras where this machine allows them (tests/test_interop_*.py skip elsewhere):
# torch 2.13.0 resolves to a CPU build here (PyPI's own wheel pulls the CUDA stack), numpy
# held at mxnet's pin; pytorchcv and gluoncv2 (the twin model zoos the tests pair) --no-deps,
# as pytorchcv would pull torchvision. Never fails the build.
$(VENV)/.installed-interop: setup.cfg setup.py | $(VENV)/.installed-test
	@$(PIP_INSTALL) -e '.[cpu,torch,onnx]' 'torch==2.13.0' "numpy==$$($(PY) -c 'import numpy; print(numpy.__version__)')" \
	  && $(PIP_INSTALL) --no-deps pytorchcv==0.0.74 gluoncv2==0.0.64 && touch $@ \
	  || echo "interop: torch/onnx extras not installed here; their tests will skip"

# The suite on both cores (pytest-xdist).
unit: setup-test browser lint $(VENV)/.installed-interop
	$(PY) -m pytest -q -n 2

# The documentation site (mkdocs.yml, docs/), built with warnings as errors into site/.
# NO_MKDOCS_2_WARNING only hides Material's banner about its successor (not a build warning).
docs: setup-test
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# docs/images/*.png redrawn from the kit's current HTML and plots (look at them after).
docs-images: setup-test browser
	$(PY) docs/make_images.py

test: unit docs smoke312 files-np2 wheel-check

# Headless Chromium for tests/test_browser.py, installed where this machine allows it
# (root with apt-get); elsewhere those tests skip and say why. Never fails the build.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	    || command -v google-chrome >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "browser: installing chromium (apt-get)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    >/dev/null 2>&1 || echo "browser: chromium could not be installed; browser tests will skip"; \
	else echo "browser: no chromium and no root apt-get; browser tests will skip"; fi

# The browser tests' PNGs, kept in screenshots/ to look at.
screenshots: setup-test browser
	GPK_SCREENSHOTS=screenshots $(PY) -m pytest -q -p no:cacheprovider tests/test_browser.py
	@ls screenshots/*.png

# A wheel in dist/, as `pip install dist/gluon_params_kit-*.whl` takes it.
wheel: | $(PY)
	rm -f dist/gluon_params_kit-*.whl
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip wheel -q --no-deps -w dist .
	rm -rf build
	@ls dist/gluon_params_kit-*.whl

# The built wheel in a fresh venv, outside the repository: import, CLI, the whole chapter.
wheel-check: wheel
	rm -rf $(WHEEL_VENV)
	$(BASE_PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q --upgrade pip
	$(WHEEL_VENV)/bin/python -m pip install -q "$$(ls dist/gluon_params_kit-*.whl)[cpu]"
	cd /tmp && $(CURDIR)/$(WHEEL_VENV)/bin/python -c "import gluon_params_kit as gpk, os; \
	assert os.path.realpath(gpk.__file__).startswith(os.path.realpath('$(CURDIR)/$(WHEEL_VENV)')), gpk.__file__; \
	print('wheel-check: imported', gpk.__version__, 'from', os.path.dirname(gpk.__file__)); \
	assert gpk.summary and os.path.exists(os.path.join(os.path.dirname(gpk.__file__), 'py.typed'))"
	cd /tmp && $(CURDIR)/$(WHEEL_VENV)/bin/gluon-params --version
	cd /tmp && $(CURDIR)/$(WHEEL_VENV)/bin/gluon-params chapter --quiet

# The shim path, Python 3.12 with numpy 1.26 (numpy.bool etc. restored before mxnet imports):
# the whole suite again in its own venv (no fuzzer: atheris has no 3.12 wheel here; those
# tests skip). The stamp file reinstalls only when setup.cfg or setup.py change.
$(SMOKE_VENV)/.installed-test: setup.cfg setup.py
	test -x $(SMOKE_VENV)/bin/python || $(SMOKE_PYTHON) -m venv $(SMOKE_VENV)
	$(SMOKE_VENV)/bin/python -m pip install -q --upgrade pip
	PYTHONWARNINGS=ignore::UserWarning $(SMOKE_VENV)/bin/python -m pip install -q -e '.[cpu,test,plot,progress]'
	$(SMOKE_VENV)/bin/python -m ipykernel install --prefix $(SMOKE_VENV) --name python3 >/dev/null
	@touch $@

smoke312:
	@if [ -z "$(SMOKE_PYTHON)" ]; then echo "smoke312: no python3.12 here, skipped"; exit 0; fi; \
	$(MAKE) --no-print-directory $(SMOKE_VENV)/.installed-test && \
	$(SMOKE_VENV)/bin/python -c "import numpy, gluon_params_kit as k; from gluon_params_kit._core import compat as c; \
	assert numpy.__version__.startswith('1.26'), numpy.__version__; assert c.SHIMMED_ALIASES, 'shim not active'; \
	print('smoke312: numpy', numpy.__version__, 'shimmed', c.SHIMMED_ALIASES)" && \
	$(SMOKE_VENV)/bin/python -m pytest -q -n 2

# The file layer where MXNet cannot run: Python 3.13 (else 3.12), numpy >= 2, no mxnet, the kit
# installed without extras (as `pip install gluon_params_kit` in a PyTorch environment).
# tests/test_files_numpy2.py reads the files MXNet 1.9.1 wrote (tests/data/files/) bit for bit
# as mx.nd.load did, converts, diffs and exports them, and runs the CLI; commands that need
# mxnet must say so in one line (exit 2). tests/test_architecture.py: the import rules, and the
# file tools with mxnet blocked, on numpy 2. tests/test_file_map.py: inspect --stats's mapped
# reads under a read lease and its C chunk kernel, on numpy 2. On 3.13 the `cpu` extra must refuse at once
# (pip's dry run, no numpy build). The stamp reinstalls only when setup.cfg or setup.py change.
$(NP2_VENV)/.installed: setup.cfg setup.py
	test -x $(NP2_VENV)/bin/python || $(NP2_PYTHON) -m venv $(NP2_VENV)
	PYTHONWARNINGS=ignore::UserWarning $(NP2_VENV)/bin/python -m pip install -q -e . 'numpy>=2' pytest safetensors
	@touch $@

files-np2:
	@if [ -z "$(NP2_PYTHON)" ]; then echo "files-np2: no python3.13 or python3.12 here, skipped"; exit 0; fi; \
	$(MAKE) --no-print-directory $(NP2_VENV)/.installed && \
	$(NP2_VENV)/bin/python -c "import importlib.util as u, sys, numpy; \
	assert int(numpy.__version__.split('.')[0]) >= 2, numpy.__version__; assert u.find_spec('mxnet') is None; \
	print('files-np2: Python', sys.version.split()[0], 'numpy', numpy.__version__, 'no mxnet')" && \
	$(NP2_VENV)/bin/python -m pytest -q -p no:cacheprovider --noconftest tests/test_files_numpy2.py tests/test_file_map.py \
	  tests/test_architecture.py && \
	if $(NP2_VENV)/bin/python -c "import sys; sys.exit(sys.version_info < (3, 13))"; then \
	  if PYTHONWARNINGS=ignore::UserWarning $(NP2_VENV)/bin/python -m pip install --dry-run -q '.[cpu]' \
	      > $(NP2_VENV)/cpu-extra.log 2>&1; then \
	    echo "files-np2: the cpu extra installed on Python 3.13 (it must refuse)"; exit 1; fi; \
	  grep -q "mxnet==1.9.1+needs.python.3.8.to.3.12" $(NP2_VENV)/cpu-extra.log \
	    || { cat $(NP2_VENV)/cpu-extra.log; exit 1; }; \
	  echo "files-np2: pip install '.[cpu]' refuses Python 3.13 at once, as it should"; fi

# Every benchmarks/bench_*.py: one table of ratios with targets, benchmarks/results.json,
# and the README's table regenerated from that JSON.
bench: setup-test
	$(PY) benchmarks/run.py; status=$$?; $(PY) benchmarks/readme_table.py && exit $$status

clean:
	rm -rf $(VENV) $(SMOKE_VENV) $(NP2_VENV) $(WHEEL_VENV) build dist screenshots site *.egg-info

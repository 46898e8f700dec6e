# Two commands on a fresh machine: `make book` builds the whole book, `make test` runs the tests.
# Each creates (or refreshes) the virtual environment .venv from the lock, requirements.txt, by itself.
#
#   make book                     the full book (mcrc at the paper's scale, 4,308 patients)
#   make book N_PATIENTS=300      the teaching profile (a small cohort; about a minute here)
#   make book SEED=7 COHORT=mhnscc
#   make test                     unit, golden, chapter and browser tests
#   make test-slow                the long recovery and coverage studies
#   make bench                    the SAEM, frailty-Cox, SDTM-reader and replicate-study benchmarks (results in _build/bench/)
#   make study                    a replicate study on an embedded Dask cluster (STUDY_ARGS="--replicates 20 ...")
#   make check                    open every page of the built book in headless Chromium, offline (screenshots)
#   make lint / make format       ruff check and ruff format --check / ruff format (settings in pyproject.toml)
#   make lock                     regenerate requirements.txt from pyproject.toml (all extras, Python 3.11)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
COHORT ?= mcrc
N_PATIENTS ?= 0
SEED ?= $(shell sed -n 's/^DEFAULT_SEED = \([0-9]*\).*/\1/p' src/lesionmap/config.py)
BUILD_ARGS ?=

# The lock is compiled by uv in a throwaway tool environment (never in .venv), from the same package index
# pip uses here (pip's configuration: index-url, extra-index-url, find-links).
LOCK := requirements.txt
LOCK_TOOL_VENV := _build/lock-tool
LOCK_PYTHON_VERSION := 3.11
INDEX_URL ?= $(or $(PIP_INDEX_URL),$(shell $(PYTHON) -m pip config get global.index-url 2>/dev/null),https://pypi.org/simple)
EXTRA_INDEX_URLS ?= $(or $(PIP_EXTRA_INDEX_URL),$(shell $(PYTHON) -m pip config get global.extra-index-url 2>/dev/null))
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))

.PHONY: book test test-slow bench check study venv clean lint format lock

# The venv holds exactly the lock: packages the lock no longer lists are removed (a stale one can cost seconds
# of import time in every chapter's kernel).
$(STAMP): $(LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(LOCK)
	$(PY) -m pip freeze --exclude-editable | sed 's/[ =@].*//' | tr 'A-Z_.' 'a-z--' | sort > $(VENV)/.installed
	grep -E '^[A-Za-z0-9]' $(LOCK) | sed 's/[ =\[].*//' | tr 'A-Z_.' 'a-z--' | sort > $(VENV)/.locked
	comm -23 $(VENV)/.installed $(VENV)/.locked | xargs -r $(PY) -m pip uninstall --quiet -y
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

book: $(STAMP)
	$(PY) -m lesionmap build --cohort $(COHORT) --n-patients $(N_PATIENTS) --seed $(SEED) $(BUILD_ARGS)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

bench: $(STAMP)
	$(PY) benchmarks/bench_saem.py
	$(PY) benchmarks/bench_cox.py
	$(PY) benchmarks/bench_study.py
	$(PY) benchmarks/bench_reader.py

check: $(STAMP)
	$(PY) -m lesionmap check

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

lock:
	test -x $(LOCK_TOOL_VENV)/bin/uv || ($(PYTHON) -m venv $(LOCK_TOOL_VENV) && $(LOCK_TOOL_VENV)/bin/pip install --quiet uv)
	$(LOCK_TOOL_VENV)/bin/uv pip compile pyproject.toml --all-extras --python-version $(LOCK_PYTHON_VERSION) \
		--index-url $(INDEX_URL) $(foreach url,$(EXTRA_INDEX_URLS),--extra-index-url $(url)) \
		$(foreach dir,$(FIND_LINKS),--find-links $(dir)) --index-strategy unsafe-best-match \
		--no-emit-index-url --no-emit-find-links --custom-compile-command "make lock" --quiet -o $(LOCK)

STUDY_ARGS ?= --replicates 4 --n-patients 300

study: $(STAMP)
	$(PY) -m lesionmap study $(STUDY_ARGS)

clean:
	rm -rf _build

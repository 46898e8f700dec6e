# Two commands on a fresh machine: `make book` builds the whole book, `make test` runs the tests.
# Each creates (or refreshes) the virtual environment .venv from requirements.txt by itself.
#
#   make book                     the full book (mcrc at the paper's scale, 4,308 patients)
#   make book N_PATIENTS=300      the teaching profile (a small cohort; about two minutes)
#   make book SEED=7 COHORT=mhnscc
#   make test                     unit, golden, chapter and browser tests
#   make test-slow                the long recovery and coverage studies
#   make bench                    the SAEM, frailty-Cox and SDTM-reader benchmarks (results in _build/bench/)
#   make check                    open every page of the built book in headless Chromium, offline (screenshots)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
COHORT ?= mcrc
N_PATIENTS ?= 0
SEED ?= 20230417
BUILD_ARGS ?=

.PHONY: book test test-slow bench check venv clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
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
	$(PY) benchmarks/bench_reader.py

check: $(STAMP)
	$(PY) -m lesionmap check

clean:
	rm -rf _build

# backwalk-study: `make run` and `make test` do everything on a fresh machine
# with Python 3.11+ and make. Nothing here needs to be installed by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP_RUN := $(VENV)/.stamp-install
STAMP_DEV := $(VENV)/.stamp-dev
STAMP_SYS := $(VENV)/.stamp-system
R_PACKAGES := r-base-core r-cran-lme4 r-cran-lmertest r-cran-emmeans r-cran-pbkrtest r-cran-metafor r-cran-nlme r-cran-mass
BROWSER_PACKAGES := chromium

.PHONY: run test fuzz lab reference bench system-deps clean help

help:
	@echo "make run        set up and run the main job on the example study (writes results/)"
	@echo "make test       set up and run every test"
	@echo "make fuzz       fuzz the loaders with 20,000 generated inputs (prints classes, cases, time)"
	@echo "make lab        open JupyterLab on notebooks/"
	@echo "make reference  regenerate the R reference values in tests/reference/"
	@echo "make bench      run the benchmarks in benchmarks/"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

$(STAMP_DEV): $(STAMP_RUN)
	$(PY) -m pip install --quiet -e '.[dev,dask]'
	touch $@

# R (for the reference values) and Chromium (for the browser test) come from
# Debian's packages. Installed when missing and we can: root with apt-get.
$(STAMP_SYS): | $(PY)
	@if command -v Rscript >/dev/null && Rscript -e 'library(lmerTest); library(emmeans); library(pbkrtest); library(metafor); library(nlme); library(MASS)' >/dev/null 2>&1 \
	   && command -v chromium >/dev/null; then \
	  echo "R and Chromium present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing $(R_PACKAGES) $(BROWSER_PACKAGES) from Debian"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(R_PACKAGES) $(BROWSER_PACKAGES) >/dev/null; \
	else \
	  echo "warning: cannot install R or Chromium here (not root or no apt-get); tests that need them will skip"; \
	fi
	touch $@

system-deps: $(STAMP_SYS)

run: $(STAMP_RUN)
	$(BIN)/backwalk run data/example --output results
	$(BIN)/backwalk report data/example_clinic/clients.csv --mapping data/example_clinic/mapping.toml \
	  --participant C-003 -o results/clinic/report-C-003.html

test: $(STAMP_DEV) $(STAMP_SYS)
	$(BIN)/pytest -n 2 --dist loadfile

fuzz: $(STAMP_DEV)
	BACKWALK_FUZZ_EXAMPLES=20000 $(BIN)/pytest tests/test_fuzz.py -q -s -p no:cacheprovider

lab: $(STAMP_RUN)
	$(BIN)/jupyter lab notebooks/

reference: $(STAMP_SYS)
	cd tests/reference && for script in *.R; do echo "Rscript $$script"; Rscript "$$script" || exit 1; done

bench: $(STAMP_RUN)
	for script in benchmarks/*.py; do echo "== $$script"; $(PY) "$$script" || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache

# jaxpapers: `make help` lists the targets. Every target sets itself up first (`make setup`), so
# `make test` works on a fresh clone that has only python3 and pip.

UV_VERSION := 0.13.9
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif
PY := .venv/bin/python
PKG ?=
# A package is named by its distribution name or its import name: rectified-flow = rectified_flow.
NAME = $(subst _,-,$(PKG))
MOD = $(subst -,_,$(PKG))
PACKAGES := $(sort $(notdir $(wildcard packages/*)))
# $(call require_pkg,<extra usage>): PKG is given and names `shared` or a package; else the list.
define require_pkg
	@test -n "$(PKG)" || { echo "usage: make $@ PKG=<name>$(1)"; echo "packages: $(PACKAGES)"; exit 2; }
	@test "$(NAME)" = shared -o "$(NAME)" = all -o -d "packages/$(NAME)" || { \
		echo "make $@: no package '$(PKG)'. Packages: shared $(PACKAGES)"; exit 2; }
endef
JOBS ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup test reproduce bench lint format wheels standalone report new \
	check-independence clean

help: ## List the targets
	@echo "jaxpapers: one JAX package per paper. PKG=<name> picks a package (PKG=shared: the shared layer)."
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-20s %s\n", $$1, $$2}'

setup: .venv/.synced ## Install the pinned uv with pip if missing, then `uv sync --locked --all-packages`

.venv/.synced: pyproject.toml uv.lock shared/pyproject.toml $(wildcard packages/*/pyproject.toml)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --locked --all-packages
	@touch $@

test: setup ## Run all tests, or one package's: make test PKG=cgs (PKG=shared for the shared layer)
	$(if $(PKG),$(call require_pkg))
	$(PY) tools/run_tests.py $(NAME) --jobs $(JOBS)

reproduce: setup ## Check a paper's claims: make reproduce PKG=cgs [QUICK=1] [PROCS=2] [RESUME=1] (-> results/PKG/)
	$(call require_pkg, [QUICK=1] [PROCS=N] [RESUME=1])
	$(if $(PROCS),$(PY) tools/launch.py --procs $(PROCS) --) $(PY) -m $(MOD).reproduce \
		$(if $(QUICK),--quick --out results/$(NAME)/quick,--out results/$(NAME)) $(if $(RESUME),--resume)

bench: setup ## Benchmark a package against its baseline: make bench PKG=cgs (PKG=shared: IFT vs unrolled)
	$(call require_pkg, [QUICK=1])
	$(PY) -m $(if $(filter shared,$(NAME)),jaxpapers_shared,$(MOD)).bench $(if $(QUICK),--quick)

lint: setup ## ruff check + format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup ## ruff fix + format
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

wheels: setup ## Build every wheel into dist/
	$(UV) build --all-packages --wheel --out-dir dist

standalone: setup ## Install one package's wheel in a fresh venv and run its quick reproduction: PKG=cgs (or PKG=all)
	$(call require_pkg,|all)
	$(PY) tools/standalone.py $(if $(filter all,$(NAME)),--all,$(NAME))

check-independence: setup ## Fail if a package imports another paper package or an undeclared library
	$(PY) tools/check_independence.py

report: setup ## Regenerate README.md's package table from results/*/results.json
	$(PY) tools/report.py

new: ## Scaffold packages/PKG and add it to the lock: make new PKG=my-paper [TITLE="..."]
	@test -n "$(PKG)" || (echo "usage: make new PKG=<name> [TITLE=\"paper title\"]"; exit 2)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) tools/new_package.py $(PKG) $(if $(TITLE),--title "$(TITLE)")
	$(UV) lock
	$(UV) sync --all-packages
	$(PY) -m ruff format --quiet packages/$(PKG)
	@touch .venv/.synced

clean: ## Remove the venv, build outputs and caches (not results/)
	rm -rf .venv dist build .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

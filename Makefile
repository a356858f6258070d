# The contract: `make test` and `make local` work on a fresh machine with Python >= 3.11 and make.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
PORT ?= 8080
STACK ?= dev
# uv from PATH, else a private copy bootstrapped into .tools/ (works where pip --user is refused).
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
RUN := $(UV) run --frozen
# The tests call uv too (e.g. to check handler/requirements.txt against the lock).
export UV

.PHONY: help test local lint bench plan preview up requirements docs logs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# A private venv first; where venv is unavailable (Debian without python3-venv), pip --target instead.
$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools && $(CURDIR)/.tools/bin/python -m pip install --quiet --disable-pip-version-check uv \
	  || { rm -rf $(CURDIR)/.tools \
	       && $(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(CURDIR)/.tools/pip uv \
	       && mkdir -p $(CURDIR)/.tools/bin && ln -sf ../pip/bin/uv $(CURDIR)/.tools/bin/uv; }

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

# Bytecode is cached (in .venv/pycache, git-ignored with the venv) even where PYTHONDONTWRITEBYTECODE is set: the
# suite starts Python dozens of times, and compiling boto3, botocore and pulumi_aws afresh each time cost about a
# fifth of its CPU (user time 99 s -> 79-83 s, `time .venv/bin/pytest` with and without, on this 2-core machine).
test: .venv/.synced ## run every test (pytest exits non-zero when nothing is collected)
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/.venv/pycache $(RUN) pytest

local: .venv/.synced ## serve the app with the demo backend on PORT (default 8080)
	BACKEND=$${BACKEND:-demo} PORT=$(PORT) $(RUN) python -m handler

# zizmor offline: no GitHub API calls, so it runs anywhere; medium and above fail (`make lint` is the gate).
lint: .venv/.synced ## ruff check and format, zizmor and actionlint on the workflows
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) zizmor --offline --min-severity medium .github/
	$(RUN) actionlint

requirements: | $(UV) ## regenerate handler/requirements.txt (the image's pinned deps) from uv.lock
	$(UV) export --frozen --only-group handler --no-emit-project --output-file handler/requirements.txt >/dev/null

docs: .venv/.synced ## regenerate README.md's configuration reference from Pulumi.yaml
	$(RUN) python -m infra.config_reference --write README.md

bench: .venv/.synced ## relay lag, throughput, memory, cold start and concurrency, printed against the targets
	$(RUN) python -m bench

plan: .venv/.synced ## print the resources the program would register for STACK, offline (mocked AWS)
	$(RUN) python -m infra.plan $(STACK)

# Pulumi.yaml says `toolchain: uv`, so the CLI runs `uv` from PATH: hand it the uv this Makefile uses, which may
# be the private copy in .tools/bin that nothing else has on PATH.
PULUMI := PATH="$(patsubst %/,%,$(dir $(UV))):$$PATH" pulumi
# The oldest Pulumi CLI this program supports: its SDK floor (pyproject.toml: pulumi>=3.200); README says the same.
PULUMI_MIN := 3.200.0
# What preview and up need: the CLI, and Docker (with buildx for the default imageBuilder, docker-build). Both
# build the image: docker-build builds on preview too.
define deploy_tools
	@command -v pulumi >/dev/null || { echo "make $@: the pulumi CLI is not installed (https://www.pulumi.com/docs/install/)" >&2; exit 127; }
	@v=$$(pulumi version | sed 's/^v//'); [ "$$(printf '%s\n' "$(PULUMI_MIN)" "$$v" | sort -V | head -n1)" = "$(PULUMI_MIN)" ] \
	  || { echo "make $@: pulumi $$v is older than $(PULUMI_MIN), the oldest this program supports" >&2; exit 127; }
	@command -v docker >/dev/null || { echo "make $@: docker is needed to build the handler image" >&2; exit 127; }
	@grep -qsE '^[[:space:]]*streamgate:imageBuilder:[[:space:]]*docker[[:space:]]*$$' Pulumi.$(STACK).yaml \
	  || docker buildx version >/dev/null 2>&1 \
	  || { echo "make $@: the default imageBuilder (docker-build) needs Docker with buildx: docker buildx version failed" >&2; exit 127; }
endef

preview: .venv/.synced ## pulumi preview for STACK under the policy pack (needs the Pulumi CLI, Docker with buildx and AWS credentials)
	$(deploy_tools)
	$(PULUMI) preview --stack $(STACK) --diff --policy-pack policy

up: .venv/.synced ## pulumi up for STACK under the policy pack (needs the Pulumi CLI, Docker with buildx and AWS credentials)
	$(deploy_tools)
	$(PULUMI) up --stack $(STACK) --policy-pack policy

logs: .venv/.synced ## follow STACK's function log, one line per request (SINCE=2h, ERRORS=1, FOLLOW=0)
	$(RUN) python -m streamlogs --stack $(STACK) $(if $(SINCE),--since $(SINCE)) $(if $(ERRORS),--errors) $(if $(filter 0,$(FOLLOW)),--no-follow)

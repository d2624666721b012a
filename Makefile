# One target per task. Every target installs what it needs first, so each works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell scripts/find-python)
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .tools/sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
CFN_LINT := $(SAM_VENV)/bin/cfn-lint
CHECKOV_VENV := .tools/checkov
SCHEMATHESIS_VENV := .tools/schemathesis
CODE_DIRS := functions layers local_stack

.PHONY: help dev tools test lint validate security build openapi schemathesis pr clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	@test -n "$(PYTHON)" || { echo "error: no Python 3.13 interpreter (see scripts/find-python)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Tools that pin exact versions of boto3, pydantic or click get a venv each: .tools/<name> from requirements-<name>.txt
.tools/%/.installed: requirements-%.txt
	@test -n "$(PYTHON)" || { echo "error: no Python 3.13 interpreter (see scripts/find-python)" >&2; exit 1; }
	$(PYTHON) -m venv .tools/$*
	.tools/$*/bin/python -m pip install --quiet --upgrade pip
	.tools/$*/bin/python -m pip install --quiet -r $<
	touch $@

dev: $(VENV)/.installed ## Create the project venv (.venv) with Python 3.13

tools: $(SAM_VENV)/.installed ## Install SAM CLI (with cfn-lint) in its own venv under .tools/

# On every core (pytest-xdist, each worker its own emulated stack); TEST_WORKERS=0 runs in this process,
# PYTEST_ARGS narrows it (files, -k, -m "not slow").
TEST_WORKERS ?= auto

test: dev ## Run the test suite (unit + component on moto) on every core
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: dev ## ruff + mypy --strict on functions/, layers/ and local_stack/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(CODE_DIRS)

validate: tools ## sam validate --lint and cfn-lint on template.yaml
	$(SAM) validate --lint
	$(CFN_LINT) template.yaml

security: $(CHECKOV_VENV)/.installed $(SAM_VENV)/.installed ## checkov on the template and on its SAM translation (findings fixed or skipped with a reason)
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact
	$(SAM_VENV)/bin/python scripts/translate_template.py template.yaml build/template.cfn.json
	$(CHECKOV_VENV)/bin/checkov -f build/template.cfn.json --framework cloudformation --skip-download --quiet --compact

build: tools ## sam build (cached, parallel)
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM) build

openapi: dev ## Regenerate openapi.json from the routes, events.schema.json from the task model
	PYTHONPATH=layers/common:functions $(PY) -m scripts.gen_openapi > openapi.json.tmp && mv openapi.json.tmp openapi.json
	PYTHONPATH=layers/common $(PY) -c "from inference_deploy.logic.task_events import detail_schema_json as s; print(s(), end='')" > events.schema.json.tmp && mv events.schema.json.tmp events.schema.json

schemathesis: dev $(SCHEMATHESIS_VENV)/.installed ## Fuzz the local stack against openapi.json (all checks and phases, fixed seed)
	PY=$(PY) SCHEMATHESIS=$(SCHEMATHESIS_VENV)/bin/schemathesis scripts/schemathesis

pr: lint validate security build schemathesis test ## Everything CI checks (plus `make bench BENCH_SIZE=small`)

include make/run.mk
include make/bench.mk
include make/sam-local.mk
include make/e2e.mk

clean: ## Remove build output and caches (keeps the venvs)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

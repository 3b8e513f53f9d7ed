# Two commands matter: `make up` (the local stack on 127.0.0.1:8080) and `make test` (the whole suite).
# Each installs what is missing first: Debian's ffmpeg, a .venv with requirements.txt, a .venv-sam with the SAM CLI.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_SAM := .venv-sam
VENV_SCAN := .venv-scan
PY := $(VENV)/bin/python
SAM := $(VENV_SAM)/bin/sam
PORT ?= 8080
# Function:module pairs that the built artifacts must import on python3.12.
LAMBDA_HANDLERS := ApiFunction:api.app DetectorFunction:detector.app WebhookFunction:webhook.app RelayFunction:relay.app
# `sam build` and the Lambda runtime want python3.12: take it from PATH or from pyenv.
PY312_DIR := $(shell for d in $$(dirname "$$(command -v python3.12)" 2>/dev/null) $(HOME)/.pyenv/versions/3.12*/bin /usr/local/bin /usr/bin; do \
	if [ -x "$$d/python3.12" ] && "$$d/python3.12" -V >/dev/null 2>&1; then echo "$$d"; break; fi; done)
SAM_ENV := AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
	SAM_CLI_TELEMETRY=0 PATH="$(PY312_DIR):$(CURDIR)/$(VENV_SAM)/bin:$$PATH"

.PHONY: help setup system-deps docker-deps up test lint unit integration e2e sam-validate sam-build scan bench cost drill validate clean image image-and-pytest image-and-drill sam-invoke

help:
	@echo "make up      run the local stack on 127.0.0.1:$(PORT) (embedded moto, real handlers)"
	@echo "make test    ruff + sam validate --lint + sam build + checkov + the recorder image + the whole pytest suite"
	@echo "make bench   print the benchmark figures as JSON lines"
	@echo "make cost    the control plane's modelled AWS cost, per 1,000 recording-hours and per standby"
	@echo "make drill   kill a real recorder mid-recording, check the final file (RUNS=10, HA_TIMING=fast, RUNTIME=docker)"
	@echo "make image   build the recorder image (IMAGE=openvidu-ha-recorder:latest) from Debian's packages"
	@echo "make sam-invoke  sam local invoke ApiFunction -e events/heartbeat.json against make up's stack"
	@echo "make validate  check the configuration in the environment"
	@echo "ovha --help  the operator CLI (in .venv/bin after make up or make test)"

setup: $(VENV)/.installed $(VENV_SAM)/.installed system-deps

# ffmpeg for every recorder; Xvfb, PulseAudio and Chromium for the real capture stack (the e2e browser drills)
system-deps:
	@missing=""; \
	for tool in ffmpeg:ffmpeg ffprobe:ffmpeg Xvfb:xvfb pulseaudio:pulseaudio pactl:pulseaudio-utils chromium:chromium; do \
	  command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing from Debian:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

# The Docker engine and debootstrap, for the recorder image (`make image`) and the Docker tests
docker-deps:
	@missing=""; \
	for tool in dockerd:docker.io debootstrap:debootstrap; do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing from Debian:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || echo ">> could not install$$missing: the recorder image and the Docker tests are skipped"; fi

$(VENV)/.installed: requirements.txt functions/requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .  # the `ovha` command
	@touch $@

# checkov in a virtualenv of its own: its pins are not the SAM CLI's nor the project's
$(VENV_SCAN)/.installed: requirements-scan.txt
	@test -x $(VENV_SCAN)/bin/python || $(PYTHON) -m venv $(VENV_SCAN)
	$(VENV_SCAN)/bin/python -m pip install -q -r requirements-scan.txt
	@touch $@

$(VENV_SAM)/.installed: requirements-sam.txt
	@test -x $(VENV_SAM)/bin/python || $(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/python -m pip install -q -r requirements-sam.txt
	@touch $@

up: setup
	PORT=$(PORT) $(PY) -m local up

validate: $(VENV)/.installed
	$(PY) -m local validate

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

sam-validate: $(VENV_SAM)/.installed
	$(SAM_ENV) $(SAM) validate --lint

# Builds every function with python3.12 (the Lambda runtime) and imports each handler from the build output.
sam-build: $(VENV_SAM)/.installed
	@if [ -z "$(PY312_DIR)" ]; then echo "SKIP sam build: no python3.12 on PATH or in pyenv (Lambda runs python3.12)"; exit 0; fi; \
	$(SAM_ENV) $(SAM) build --cached --parallel >/dev/null && \
	for fm in $(LAMBDA_HANDLERS); do fn=$${fm%%:*}; mod=$${fm#*:}; \
	  env -i PATH="$(PY312_DIR):/usr/bin:/bin" PYTHONPATH=.aws-sam/build/$$fn AWS_DEFAULT_REGION=us-east-1 \
	    python3.12 -c "import $$mod; print('sam build: $$fn imports $$mod on python3.12')" || exit 1; done

# The template's IaC security scan: any failed check fails; every skip is in template.yaml with its reason
scan: $(VENV_SCAN)/.installed
	$(VENV_SCAN)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download \
	  | grep -v '^$$' ; test "$${PIPESTATUS[0]}" = 0

# The suite runs with a Docker engine (started here if none answers, stopped after if it was) and
# the recorder image built first; on a machine with no engine the Docker tests skip with the reason.
test: setup docker-deps lint sam-validate sam-build scan
	PATH="$$PATH:/usr/sbin:/sbin" $(PY) -m local engine run -- $(MAKE) --no-print-directory image-and-pytest

image-and-pytest:
	$(PY) -m local image --if-engine
	$(VENV)/bin/pytest

# `sam local invoke` against the running stack (`make up`), nothing pulled from a registry (local/sam_invoke.py)
sam-invoke: setup docker-deps sam-build
	PATH="$$PATH:/usr/sbin:/sbin" $(PY) -m local engine run -- $(PY) -m local sam-invoke $(or $(FUNCTION),ApiFunction) $(or $(EVENT),events/heartbeat.json)

# The recorder image (IMAGE=name:tag; BASE_IMAGE= an image the engine has, else made with debootstrap)
image: setup docker-deps
	PATH="$$PATH:/usr/sbin:/sbin" $(PY) -m local image

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit

integration: $(VENV)/.installed
	$(VENV)/bin/pytest tests/integration

e2e: setup
	$(VENV)/bin/pytest tests/e2e

bench: setup
	$(PY) -m bench

# A model, not a measurement: the template's settings and AWS list prices (bench/cost_model.py)
cost: $(VENV)/.installed
	$(PY) -m bench.cost_model

# make drill [RUNS=10] [MODE=kill|watcher-kill|backup-kill|ffmpeg|hang|zombie|none|browser|renderer|freeze|
#             api-outage|partition|partition-pair|node-loss|watcher-kill|handover|drain|rotate|redundant-kill]
#             [HA_TIMING=fast] [RUNTIME=docker] [KEEP=dir: each failed run's files and S3 objects kept there]
#             [HOLD=1: the drill's stack serves on after the runs; the console's links are printed]
# (APP_PROCESS_LAUNCH_DELAY, APP_STANDBY_POOL_SIZE and DRILL_SOURCE=openvidu from the environment)
drill: setup $(if $(filter docker,$(RUNTIME)),docker-deps)
	$(if $(filter docker,$(RUNTIME)),PATH="$$PATH:/usr/sbin:/sbin" $(PY) -m local engine run -- $(MAKE) --no-print-directory image-and-drill,$(PY) -m local drill $(DRILL_ARGS))

DRILL_ARGS = $(if $(RUNS),--runs $(RUNS)) $(if $(MODE),--mode $(MODE)) $(if $(HA_TIMING),--timing $(HA_TIMING)) $(if $(RUNTIME),--runtime $(RUNTIME)) $(if $(KEEP),--keep $(KEEP)) $(if $(HOLD),--hold) $(ARGS)

# RUNTIME=docker: the image first (seconds when nothing changed), then the drill on containers
image-and-drill:
	$(PY) -m local image
	$(PY) -m local drill $(DRILL_ARGS)

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache .local-data

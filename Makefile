# Credit scoring platform: every command a user or CI needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EXTRAS ?= gateway,worker,monitoring,training,dev
MODEL_DIR ?= models/default
PORT ?= 8000
DASH_PORT ?= 8050
export DO_NOT_TRACK := 1
# Tools built from source once per machine and kept across clones and runs: Helm for the chart checks.
TOOLS ?= $(HOME)/.cache/credit-scoring/tools
HELM_VERSION ?= v4.3.2
HELM := $(TOOLS)/bin/helm

.PHONY: browser constraints help venv bundle run test test-unit test-integration test-cluster test-failover helm chart lint services services-stop services-status stack bench-stack clean

help:  ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $@

venv: $(VENV)/.installed  ## create the virtual environment and install the pinned dependencies

bundle: venv  ## build the default model bundle (synthetic data) if there is none
	@test -f $(MODEL_DIR)/metadata.json || $(PY) -m training build --rows 100000 --output $(MODEL_DIR)

run: bundle  ## embedded mode: API on 127.0.0.1:$(PORT), dashboard on 127.0.0.1:$(DASH_PORT), no server needed
	@mkdir -p var
	@echo "API:        http://127.0.0.1:$(PORT)  (docs: http://127.0.0.1:$(PORT)/docs)"
	@echo "Dashboard:  http://127.0.0.1:$(DASH_PORT)"
	@if [ -z "$$API_KEYS" ] && [[ ! "$$ALLOW_NO_API_KEY" =~ ^(1|true|yes|on)$$ ]]; then \
	  API_KEYS=$$($(PY) scripts/dev_api_key.py) && export API_KEYS && \
	  echo "API key:    $$API_KEYS  (development key, kept in var/dev-api-key; header X-API-Key)"; \
	elif [ -z "$$API_KEYS" ]; then \
	  echo "API key:    NONE: ALLOW_NO_API_KEY=true, every /v1 route is open (development only)"; \
	fi; \
	if [ -z "$$DASHBOARD_USERS" ] && [[ ! "$$ALLOW_OPEN_DASHBOARD" =~ ^(1|true|yes|on)$$ ]]; then \
	  DASHBOARD_USERS=$$($(PY) scripts/dev_dashboard_user.py --users) && export DASHBOARD_USERS && \
	  echo "Dashboard user: $$($(PY) scripts/dev_dashboard_user.py)  (development user, kept in var/dev-dashboard-user)"; \
	elif [ -z "$$DASHBOARD_USERS" ]; then \
	  echo "Dashboard user: NONE: ALLOW_OPEN_DASHBOARD=true, the dashboard is open (development only)"; \
	fi; \
	metrics_dir=$$(mktemp -d "$${TMPDIR:-/tmp}/run-metrics-XXXXXX"); \
	env -u REDIS_URL -u ELASTICSEARCH_URL MODEL_DIR=$(MODEL_DIR) PORT=$(PORT) API_PORT=$(PORT) DASH_PORT=$(DASH_PORT) \
	  PROMETHEUS_MULTIPROC_DIR=$$metrics_dir \
	  PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho -f Procfile.embedded start; \
	rc=$$?; rm -rf "$$metrics_dir"; exit $$rc

services:  ## start Redis (6379) and Elasticsearch (9200), reusing servers already up
	@bash scripts/services.sh start

services-stop:  ## stop the servers that `make services` started
	@bash scripts/services.sh stop

services-status:  ## say which server runs where
	@bash scripts/services.sh status

stack: bundle  ## full stack without Docker: servers (started if down), gateway, workers, indexer, monitoring, dashboard
	@PORT=$(PORT) DASH_PORT=$(DASH_PORT) MODEL_DIR=$(MODEL_DIR) VENV=$(VENV) bash scripts/stack.sh

bench-stack: bundle  ## the whole stack under wrk (30 s, 16 connections): scored and stored applications/s, CPU by component
	@MODEL_DIR=$(MODEL_DIR) $(PY) -m benchmarks.stack

lint: venv  ## ruff, mypy, hadolint and actionlint (as the CI's lint job)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared gateway worker embedded
	$(VENV)/bin/hadolint Dockerfile.gateway Dockerfile.worker Dockerfile.monitoring Dockerfile.space
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" actionlint

browser:  ## install Debian's chromium and chromium-driver for the dashboard's browser tests (root), if missing
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver (browser tests)"; \
	  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null)) || \
	  echo "could not install chromium: the browser tests will be skipped"; \
	else echo "chromium not installed and not root: the browser tests will be skipped"; fi

test: venv services browser helm  ## install, start the servers, run unit and integration tests (the chart checks too)
	HELM=$(abspath $(HELM)) $(VENV)/bin/pytest -q

$(HELM):
	@command -v go >/dev/null || { echo "Go is needed once to build Helm $(HELM_VERSION) (apt-get install -y golang, or go.dev/dl)"; exit 1; }
	@echo "building Helm $(HELM_VERSION) into $(TOOLS)/bin (several minutes, once) ..."
	@mkdir -p $(TOOLS)/bin
	GOBIN=$(abspath $(TOOLS))/bin GOFLAGS=-buildvcs=false go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

helm: $(HELM)  ## build Helm (go install, once per machine) into $(TOOLS)/bin

chart: venv helm  ## the Helm chart: helm lint, helm template | kubernetes-validate, KEDA/ECK schemas
	$(PY) scripts/check_chart.py --helm $(HELM)

test-cluster: venv services  ## the indexer on a three-node Elasticsearch cluster (9201-9203) losing a node under load
	@VENV=$(VENV) bash scripts/test_cluster.sh

test-failover: venv services  ## Redis primary killed under load: Sentinel failover, no event or job lost
	@summary=$$(mktemp); \
	if REDIS_FAILOVER_TEST=1 FAILOVER_TEST_SUMMARY=$$summary $(VENV)/bin/pytest -q -p no:cacheprovider tests/failover </dev/null; \
	then tail -n 1 $$summary; rm -f $$summary; else rm -f $$summary; exit 1; fi

constraints:  ## re-pin every dependency from the current environment into constraints.txt
	@(echo "# Pinned versions of every dependency (pip install -c constraints.txt). Regenerate: make constraints"; \
	  $(PIP) freeze --exclude-editable | grep -v -i "^credit-scoring-platform" | sort -f) > constraints.txt

clean:  ## remove caches (keeps the venv and the bundles)
	rm -rf .pytest_cache .mypy_cache .ruff_cache

# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The built-in local provider is a service of its own (python -m speech.local) beside the web server; the
# gateway reaches it at LOCAL_REALTIME_URL. Both read the master key from LOCAL_REALTIME_API_KEY, else from
# var/local_realtime_key (made on first use), so on one machine they share it with nothing set.
LOCAL_REALTIME_HOST ?= $(HOST)
LOCAL_REALTIME_PORT ?= 8001
LOCAL_REALTIME_URL ?= http://$(LOCAL_REALTIME_HOST):$(LOCAL_REALTIME_PORT)/v1
export LOCAL_REALTIME_HOST LOCAL_REALTIME_PORT LOCAL_REALTIME_URL
# `make serve SERVE_LOCAL=false` runs the web server alone (the local provider runs elsewhere, or not at all).
SERVE_LOCAL ?= true
# Runs the local provider in the background for the rest of a recipe's shell, and stops it (SIGTERM: its calls
# are closed) when that shell ends, however: Ctrl-C, the web server exiting, an error.
START_LOCAL = $(BIN)/python -m speech.local & pids="$$pids $$!"; trap 'kill $$pids 2>/dev/null; wait $$pids' EXIT INT TERM
# With REDIS_URL (from the environment or .env), `make serve` also runs a call supervisor beside the web server
# (docs/deployment.md, "Call supervisors"), stopped with it; without Redis each web process supervises the calls
# it attaches itself and the command exits at once. `make serve SERVE_SUPERVISOR=false` runs none here.
# `make run` always supervises in its own process (SPEECH_CALL_DISPATCH=in_process), Redis or not.
SERVE_SUPERVISOR ?= true
SUPERVISOR_METRICS_PORT ?= 8002
START_SUPERVISOR = SPEECH_SUPERVISOR_METRICS_PORT=$${SPEECH_SUPERVISOR_METRICS_PORT:-$(SUPERVISOR_METRICS_PORT)} \
	$(BIN)/python manage.py call_supervisor --only-with-redis & pids="$$pids $$!"; \
	trap 'kill $$pids 2>/dev/null; wait $$pids' EXIT INT TERM

# The scale-out configuration: PostgreSQL and Redis (both run on the development machines).
SCALEOUT_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/speech_gateway
SCALEOUT_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run serve serve-local test test-scaleout bench lint schema system-deps install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# Debian packages the tests use (Chromium for the browser tests, espeak-ng for spoken answers).
system-deps:
	@bash .ci/system-deps

run: install
	@mkdir -p staticfiles
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py bootstrap
	@echo "Serving http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/), local provider $(LOCAL_REALTIME_URL)"
	@$(START_LOCAL); SPEECH_CALL_DISPATCH=$${SPEECH_CALL_DISPATCH:-in_process} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production server: granian's WSGI workers (config/serve.py), static files collected and served by
# WhiteNoise, metrics added up across workers; with REDIS_URL a call supervisor process beside them.
# DATABASE_URL, REDIS_URL, VAULT_ADDR, ... from the environment.
serve: install
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	STATIC_FROM_SOURCE=false $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@if [ "$(SERVE_LOCAL)" = true ]; then $(START_LOCAL); fi; \
	if [ "$(SERVE_SUPERVISOR)" = true ]; then $(START_SUPERVISOR); fi; \
	STATIC_FROM_SOURCE=false SPEECH_AUDIT_ASYNC=$${SPEECH_AUDIT_ASYNC:-true} \
	  PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/var/prometheus} \
	  BIND=$${BIND:-$(HOST):$(PORT)} $(BIN)/python -m config.serve

# The local provider alone, as its own service (docs/deployment.md).
serve-local: install
	$(BIN)/python -m speech.local

test: install-dev system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-scaleout: install-dev system-deps
	DATABASE_URL=$(SCALEOUT_DATABASE_URL) REDIS_URL=$(SCALEOUT_REDIS_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Regenerate docs/openapi.yaml after changing the API (a test fails while it differs from the code).
schema: install-dev
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

# The gateway's added latency, throughput and memory against a fake provider, and the chat page's connect
# time in Chromium: a report in test-artifacts/; BENCH_ARGS=--update-docs rewrites docs/benchmark.md too.
bench: install-dev
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

lint: install-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) staticfiles test-artifacts .pytest_cache tests/e2e/agents_sdk/node_modules tests/e2e/agents_sdk/dist

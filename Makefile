# Hearth: `make run` starts the whole panel on the zero-setup defaults; `make test` runs the suite
# against real services started by scripts/testenv.sh.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
TESTENV_FILE ?= /var/lib/hearth-testenv/env

.PHONY: run test testenv venv image prod-check lint format migrate bench bench-lifecycle bench-console bench-files bench-backup bench-schedule bench-alerts bench-api bench-footprint clean

$(VENV)/.installed: pyproject.toml
	@scripts/ensure-python.sh $(PYTHON) $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

var/secret_key:
	@mkdir -p var && umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

run: venv var/secret_key
	@scripts/ensure-sftp-server.sh
	@$(PY) manage.py migrate --noinput -v0
	@$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py bootstrap
	@HOST=$(HOST) PORT=$(PORT) scripts/run.sh

testenv:
	bash scripts/testenv.sh up

# The production image hearth:latest (scripts/image.sh says where its base and packages come from).
image: venv
	@bash scripts/image.sh

# The production path end to end: images of the previous and this commit, the compose stack behind its
# TLS proxy, a remote node, an upgrade with a server running, a replica lost (bench/prod_check/).
prod-check: venv testenv
	@bash scripts/prod-check.sh $(ARGS)

test: venv testenv
	@bash scripts/run-tests.sh $(TESTENV_FILE) $(ARGS)

# Benchmarks (bench/README.md): each runs the real panel against the test environment and appends its
# results to bench/RESULTS.md. Extra arguments go in ARGS, e.g. make bench-lifecycle ARGS="--rounds 5".
bench: bench-lifecycle bench-console bench-files bench-backup bench-schedule bench-alerts bench-api bench-footprint

bench-lifecycle: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-lifecycle$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/lifecycle/run.py $(ARGS)

bench-console: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-console$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/console/run.py $(ARGS)

bench-files: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-files$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/files/run.py $(ARGS)

bench-backup: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-backup$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/backup/run.py $(ARGS)

bench-schedule: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-schedule$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/schedule/run.py $(ARGS)

bench-alerts: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-alerts$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/alerts/run.py $(ARGS)

bench-api: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-api$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/api/run.py $(ARGS)

bench-footprint: venv testenv
	@HEARTH_TESTENV_FILE=$(TESTENV_FILE) BENCH_COMMAND="make bench-footprint$(if $(ARGS), ARGS='$(ARGS)')" bash scripts/run-bench.sh bench/footprint/run.py $(ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var/static .pytest_cache

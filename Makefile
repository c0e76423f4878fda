# Switchyard. Two commands matter: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The suite waits on subprocesses, sockets and PostgreSQL as much as it computes:
# three workers keep CI's 2 cores busy (first pass 12:18 against 13:53 with two).
TEST_WORKERS ?= 3

.PHONY: run test bench lint format check-migrations install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: set up everything on a fresh machine and start web server + worker
run: $(STAMP)
	$(PY) -m config.bootstrap_env
	$(PY) manage.py migrate --no-input
	$(PY) manage.py createcachetable
	$(PY) manage.py setup_schedules
	$(PY) manage.py setup_demo
	$(PY) manage.py serve

## make test: the whole suite (the tests that run the real migrations in a second pass)
test: $(STAMP)
	# Exit 5 is "no test selected" (PYTEST_ARGS naming tests of one kind only).
	# The second pass imports only modules naming the marker (tests/conftest.py).
	# Both passes run in TEST_WORKERS processes (pytest-xdist), a test file each
	# at a time; 0 runs them in this process. Each worker has its own test database
	# and Redis database (tests/settings.py).
	$(PY) -m pytest -m "not migrations" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest --migrations -m migrations -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS) || [ $$? -eq 5 ]

bench: $(STAMP)
	$(PY) -m bench

## make lint: what CI checks (ruff lint + format)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## make check-migrations: fail if a model change has no migration
# tests.settings supplies throwaway secrets, so no .env is written.
check-migrations: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run --settings=tests.settings

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles

# `make run` and `make test` do everything on a fresh machine; see README.md.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate demo serve bench-jobs clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0

demo: migrate
	@$(BIN)/python manage.py ensure_login --username demo
	$(BIN)/python manage.py seed_demo --owner demo --pipelines 60 --if-empty

# Web (gunicorn) and a Celery worker on the embedded default; Ctrl-C stops both.
run: demo
	@echo "i2v is starting at http://$(HOST):$(PORT)/  (Ctrl-C stops web and worker)"
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A i2v worker --loglevel=INFO --concurrency=2 & \
	$(BIN)/gunicorn i2v.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 4 --access-logfile - & \
	wait

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Needs DATABASE_URL (PostgreSQL) and REDIS_URL; see docs/benchmarks.md.
bench-jobs: install
	$(BIN)/python bench/jobs_page.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var

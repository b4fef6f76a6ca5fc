# `make run` and `make test` do everything on a fresh machine; see README.md.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate demo serve bench-jobs bench-processing clean

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
	$(BIN)/python manage.py scope_media -v0

demo: migrate
	@$(BIN)/python manage.py ensure_login --username demo
	$(BIN)/python manage.py seed_demo --owner demo --pipelines 60 --if-empty

# Web (granian), a media worker (thumbnails, variants, backfill), a generation worker, the control worker
# (the sweepers, on a queue of their own so no backlog holds them up) and beat, on the embedded default.
# i2v/run_local.py starts them and, on Ctrl-C, stops them all within a few seconds (workers run niced so the
# web server keeps the CPU it needs: uploads stay fast while they chew a backlog, docs/benchmarks.md).
run: demo
	@echo "i2v is starting at http://$(HOST):$(PORT)/  (Ctrl-C stops web, workers and beat)"
	@$(BIN)/python i2v/run_local.py --bind $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Needs DATABASE_URL (PostgreSQL) and REDIS_URL; see docs/benchmarks.md.
bench-jobs: install
	$(BIN)/python bench/jobs_page.py $(BENCH_ARGS)

# The Jobs and Library pages in Chromium at scale: LCP, elements and heap after 5,000 rows, live checks
# (needs DATABASE_URL on a copy of the 1M data set and REDIS_URL; see docs/benchmarks.md).
.PHONY: bench-long-lists
bench-long-lists: install
	$(BIN)/python bench/long_lists.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var

# Every Jobs and Library filter alone, in pairs and in threes, on data already seeded (1M pipelines and
# 1M assets; see docs/benchmarks.md): prints each combination against the first page, and those past
# 2x it or 30 ms of SQL. Only reads. Needs DATABASE_URL (PostgreSQL).
.PHONY: bench-lists
bench-lists: install
	$(BIN)/python bench/lists.py $(BENCH_ARGS)

# Uploads and media processing (needs PostgreSQL and Redis on loopback; see docs/benchmarks.md).
# Its own database (created, then dropped) and Redis db; media under a temporary VAR_DIR.
bench-processing: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/i2v_bench_proc} \
	REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/6} \
	$(BIN)/python bench/processing.py $(BENCH_ARGS)

# Creating and running pipelines: submit latency while workers are busy, and a
# 200 x 5 pipeline end to end (needs PostgreSQL and Redis on loopback; see docs/benchmarks.md).
# Its own database (created, then dropped) and Redis db; media under a temporary VAR_DIR.
.PHONY: bench-pipelines
bench-pipelines: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/i2v_bench_pipe} \
	REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/8} \
	$(BIN)/python bench/pipelines.py $(BENCH_ARGS)

# Generation at volume: 1,000 requests of 20 s against a fake provider that runs 40 at once, with and
# without worker kills and a broker restart (needs PostgreSQL and redis-server; see docs/benchmarks.md).
.PHONY: bench-generation
bench-generation: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/i2v_bench_gen} \
	$(BIN)/python bench/generation.py $(BENCH_ARGS)

# Big deletes: Django's QuerySet.delete() against the bulk paths, side by side (needs PostgreSQL;
# see docs/benchmarks.md). Its own database (created, then dropped).
.PHONY: bench-deletes
bench-deletes: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/i2v_bench_del} \
	$(BIN)/python bench/deletes.py $(BENCH_ARGS)

# Importing an i2v database: 100,000 pipelines built in a SQLite file, imported into PostgreSQL (and, with
# BENCH_ARGS=--sqlite, into the embedded default too); rows per second and peak memory (docs/benchmarks.md).
# Its own database (created, then dropped) and Redis db.
.PHONY: bench-import
bench-import: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/i2v_bench_import} \
	REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/10} \
	$(BIN)/python bench/import_i2v.py $(BENCH_ARGS)

# Faults on the production timings (leases 30 s, heartbeats 5 s, sweeps 10 s): workers killed, PostgreSQL
# stopped, the broker restarted, the web restarted, with `make run`'s processes. Runs as root on a private
# PostgreSQL cluster and a private redis-server of its own (other ports, made under /tmp, stopped and removed at
# the end): the shared servers are never touched. About 15 minutes; see docs/benchmarks.md.
.PHONY: bench-faults
bench-faults: install
	$(BIN)/python bench/faults.py $(BENCH_ARGS)

# Downloads: time to first byte and peak RSS of gunicorn streaming a zip of a 2 GB selection
# (needs PostgreSQL; its files are kept under /tmp/i2v-bench-downloads-media; see docs/benchmarks.md).
.PHONY: bench-downloads
bench-downloads: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/i2v_bench_dl} \
	$(BIN)/python bench/downloads.py $(BENCH_ARGS)

# gunicorn's defaults (a sync worker, no access log) for bench/hot_paths.py's per-request figures:
# without a --config, gunicorn would read ./gunicorn.conf.py (gthread, access log on).

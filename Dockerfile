# The i2v image: web (granian, i2v/web.py), workers and beat all run from it (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/data/var MEDIA_ROOT=/data/media STATIC_ROOT=/data/static

# A user of its own: nothing in the container runs as root.
RUN groupadd --system --gid 10001 i2v \
 && useradd --system --uid 10001 --gid i2v --home-dir /app --shell /usr/sbin/nologin i2v \
 && mkdir -p /app /data/var /data/media /data/static \
 && chown -R i2v:i2v /data

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=root:root . .

# The deploy's version (e.g. `docker compose build --build-arg RELEASE=$(git rev-parse --short HEAD)`):
# it names the release in error reports and keeps cached pages from surviving a deploy.
ARG RELEASE=""
ENV RELEASE=${RELEASE}

USER i2v
EXPOSE 8000
# Exec form: granian is PID 1's child under `init: true` and gets SIGTERM itself.
CMD ["python", "-m", "i2v.web"]

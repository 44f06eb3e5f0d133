FROM python:3.11-slim
WORKDIR /srv/stairway
# Exact versions with hashes (./scripts/lock refreshes them), installed before the code so
# that a code change reuses this layer.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY workers ./workers
COPY alembic ./alembic
COPY policies ./policies
RUN pip install --no-cache-dir --no-deps .
ENV STAIRWAY_HOST=0.0.0.0 STAIRWAY_PORT=8080
EXPOSE 8080
# SIGTERM: the API finishes its requests, a worker its current batch, then exit 0.
STOPSIGNAL SIGTERM
CMD ["stairway", "api"]

FROM python:3.11-slim
WORKDIR /srv/stairway
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY workers ./workers
COPY alembic ./alembic
COPY policies ./policies
RUN pip install --no-cache-dir .
ENV STAIRWAY_HOST=0.0.0.0 STAIRWAY_PORT=8080
EXPOSE 8080
CMD ["stairway", "api"]

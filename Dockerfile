# One image for every platform service; compose picks the service by `command`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/oceanwatch
COPY pyproject.toml README.md ./
COPY oceanwatch oceanwatch
COPY app app
COPY visualization visualization
COPY predict_stream predict_stream
COPY ais_stream ais_stream
COPY ingest ingest
COPY scripts scripts
COPY migrations migrations
RUN pip install --no-cache-dir .
RUN useradd --system --home /data oceanwatch && mkdir -p /data && chown oceanwatch /data
USER oceanwatch
EXPOSE 8000 5006

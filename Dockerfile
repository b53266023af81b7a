# The LFB response-time dashboard: one image for both services of compose.yaml, the app and the scheduler sidecar.
# Nothing of the state is baked in: no data, no model, no user, no key. They live in the data and models volumes and
# are made at the first start (the demo data, a first model, the first admin, the cookie key), or come from LFB_*
# environment variables. Build: docker compose build (or docker build -t lfb-response-times .)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    LFB_DATA_DIR=/app/data \
    LFB_MODELS_DIR=/app/models

WORKDIR /app

# The same install step as ./start.sh and ./test.sh (scripts/bootstrap.sh calls this script): a virtualenv with
# exactly requirements.txt, so what the tests run is what the image holds.
COPY requirements.txt ./
COPY scripts/install.sh scripts/
RUN PIP_NO_CACHE_DIR=1 scripts/install.sh /opt/venv requirements.txt

COPY . .
RUN useradd --create-home --uid 10001 --user-group lfb \
    && mkdir -p /app/data /app/models \
    && chown lfb:lfb /app/data /app/models
USER 10001:10001

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=10s --start-period=10m --retries=3 \
    CMD ["python", "-m", "lfb", "health", "app"]
# The app alone (compose.yaml runs the sidecar as its own service): set-up on the first start, then supervised.
CMD ["python", "-m", "lfb", "serve", "--no-sidecar"]

# A slim image that runs `llmgate serve` on 0.0.0.0:8080. Data (SQLite, the generated secret)
# lives in /app/data: mount a volume there, or use PostgreSQL via LLMGATE_DATABASE_URL.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY plugins ./plugins
COPY dashboard ./dashboard
COPY config ./config
COPY migrations ./migrations
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 1000 llmgate && mkdir -p /app/data && chown llmgate /app/data
COPY --from=build /install /usr/local
WORKDIR /app
USER llmgate
ENV LLMGATE_HOST=0.0.0.0 \
    LLMGATE_PORT=8080 \
    LLMGATE_DATA_DIR=/app/data \
    PYTHONUNBUFFERED=1
EXPOSE 8080
VOLUME ["/app/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"
CMD ["llmgate", "serve"]

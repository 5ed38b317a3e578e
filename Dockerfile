# firegrid gateway image (used by docker-compose.yml).
FROM python:3.11-slim
# openssl: deploy/mosquitto/init.sh (the compose stack's mosquitto-init) makes the broker's
# certificate with it.
RUN apt-get update && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY bridge ./bridge
COPY device_profiles ./device_profiles
COPY rules ./rules
COPY setup.py ./
# gcc + libc6-dev only while installing: setup.py compiles the hot path with mypyc (the image's
# Python carries its headers), then the compiler goes again.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
    && cd / && python -c "from gateway import compiled; assert compiled.hot_path() == 'compiled'"
ENV FIREGRID_DATA_DIR=/data FIREGRID_API_HOST=0.0.0.0 \
    FIREGRID_PROFILES_DIR=/app/device_profiles FIREGRID_RULES_DIR=/app/rules
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=6 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/api/v1/healthz', timeout=2)" || exit 1
CMD ["firegrid", "run"]

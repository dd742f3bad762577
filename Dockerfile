# saferbot in a container: docs/admin.md, "Docker".
#   docker build -t saferbot .
#   cp config/saferbot.env saferbot.env     # then put your tokens in saferbot.env
#   docker run -d --name saferbot --env-file saferbot.env --ulimit nofile=65536:65536 -v saferbot-data:/data saferbot
# The database (and its lock and files/ folder) live on the /data volume: keep it, back it up.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    SAFERBOT_DB=/data/saferbot.db \
    SAFERBOT_HEALTH_PORT=8080 \
    SAFERBOT_CONSOLE=false

WORKDIR /app

# the versions in constraints.txt, as every other install (docs/admin.md)
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install --no-compile -c constraints.txt .

# the codeword book, the example service file and the guides (`saferbot guide staff`);
# mount your own config/service.yaml and codewords.yaml over these (see compose.yaml)
COPY codewords.yaml ./
COPY config ./config
COPY docs ./docs

RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin saferbot \
    && mkdir -p /data && chown saferbot:saferbot /data && chmod 0700 /data
USER saferbot
VOLUME /data

# the health endpoint (GET /healthz: 200 healthy, 503 with a reason); slim images have no curl
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SAFERBOT_HEALTH_PORT', '8080'), timeout=4)"]

STOPSIGNAL SIGTERM
CMD ["saferbot", "run"]

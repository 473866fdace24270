FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NEWSBOT_DB=/data/newsbot.db \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --disable-pip-version-check . \
    && useradd --system --uid 10001 --home-dir /data newsbot \
    && mkdir -p /data && chown newsbot /data

USER newsbot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8443
ENTRYPOINT ["newsbot"]
CMD ["run"]

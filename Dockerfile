FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NEWSBOT_DB=/data/newsbot.db \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
# Every dependency (and the build backend) exactly as locked, each file checked against its hash;
# this layer is rebuilt only when the lock changes.
COPY requirements/build.txt requirements/runtime.txt ./requirements/
RUN pip install --require-hashes --only-binary :all: -r requirements/build.txt -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
# newsbot itself, with nothing fetched: its dependencies are above, setuptools comes from the lock.
RUN pip install --no-deps --no-build-isolation --no-index . \
    && pip check \
    && useradd --system --uid 10001 --home-dir /data newsbot \
    && mkdir -p /data && chown newsbot /data

USER newsbot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8443
ENTRYPOINT ["newsbot"]
CMD ["run"]

# The bot as a container image: `simsid-bot serve` on $PORT (3000), as a non-root user.
#
#   podman build --format docker -t simsid-bot .      (or: docker build -t simsid-bot .)
#
# BASE is any image with Python 3.11+ and its venv module: the official Python image by
# default. CI, which reaches no image registry, builds from a Debian image of its own
# (scripts/image-test) with PIP_NO_INDEX=1 and the wheels it put in deploy/wheels/.
ARG BASE=python:3.11-slim

# Stage 1: the wheelhouse, a wheel of the bot and of everything it needs.
FROM ${BASE} AS wheels
# 1 builds offline from deploy/wheels/ alone; 0 takes what is missing there from PyPI.
ARG PIP_NO_INDEX=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /build
WORKDIR /src
COPY deploy/wheels/ deploy/wheels/
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY store/ store/
COPY testing/ testing/
RUN /build/bin/pip wheel --quiet --wheel-dir /wheelhouse --find-links deploy/wheels . \
    && ls /wheelhouse/simsid_bot-*.whl

# Stage 2: the bot installed from the wheelhouse alone, without a compiler or network.
# (RUN --mount needs BuildKit, Docker's builder since 23.0, or Podman/Buildah.)
FROM ${BASE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN --mount=type=bind,from=wheels,source=/wheelhouse,target=/wheelhouse \
    python3 -m venv /opt/simsid-bot \
    && /opt/simsid-bot/bin/pip install --quiet --no-index --find-links /wheelhouse simsid-bot \
    && /opt/simsid-bot/bin/simsid-bot --help >/dev/null
# A fixed uid, so a volume's owner can be set before the first start.
RUN groupadd --gid 10001 simsid \
    && useradd --uid 10001 --gid 10001 --home-dir /data --create-home --no-log-init \
        --shell /usr/sbin/nologin simsid
COPY deploy/healthcheck.py /opt/simsid-bot/healthcheck.py
# PORT and WEB_CONCURRENCY are read by `serve` itself, as on any platform that sets them.
ENV PATH=/opt/simsid-bot/bin:$PATH PYTHONUNBUFFERED=1 LANG=C.UTF-8 PORT=3000
USER simsid
# The working directory holds the SQLite file when DATABASE_URL is left at its default.
WORKDIR /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "/opt/simsid-bot/healthcheck.py"]
CMD ["simsid-bot", "serve"]

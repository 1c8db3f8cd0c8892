# One image for every chungtay service; compose (or the orchestrator) picks the command, e.g.
#   uvicorn --factory services.registration.api:main --host 0.0.0.0 --port 8001
#   python -m chungtay_common.stack ready
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Exact pins first, in their own layer, so code changes do not reinstall the dependencies.
COPY requirements.lock /tmp/requirements.lock
RUN pip install -r /tmp/requirements.lock && rm /tmp/requirements.lock

WORKDIR /tmp/build
COPY pyproject.toml ./
COPY chungtay_common ./chungtay_common
COPY services ./services
RUN pip install --no-deps . && rm -rf /tmp/build

# Non-root user. The working directory is writable (faust keeps "<app id>-data" there).
# chungtay_common.settings.LOCAL_STATE (".local" next to the installed packages) holds the
# development keys `python -m chungtay_common.stack ready` generates; it must be writable too.
RUN groupadd --system --gid 10001 chungtay \
    && useradd --system --uid 10001 --gid chungtay --home-dir /srv/chungtay --create-home chungtay \
    && install -d -o chungtay -g chungtay \
       "$(python -c 'from chungtay_common.settings import LOCAL_STATE; print(LOCAL_STATE)')"
WORKDIR /srv/chungtay
USER chungtay:chungtay

ENV CHUNGTAY_ENVIRONMENT=production
EXPOSE 8001 8002
CMD ["python", "-c", "raise SystemExit('choose a command: see docker-compose.yml')"]
